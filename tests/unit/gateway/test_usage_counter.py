"""The gateway's API-call counter (§6.4): REST calls per organization of a verified user token, published as
gateway.api_calls (ApiCallsCounted) on flush; services and bad tokens are not counted; a refused publish keeps
its counts for the next flush; stop() publishes what is left."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from google.protobuf.message import Message
from iot.common.v1 import jobs_pb2
from starlette.types import Receive, Scope, Send

from gateway.usage import API_CALLS, ApiCallCounter, UsageCounterSettings
from services.kernel.caller import Caller, Role
from services.kernel.errors import Unauthenticated
from services.runtime.auth import TokenVerifier

TOKENS = {
    "token-a": Caller("user-1", "org-a", Role.VIEWER),
    "token-b": Caller("user-2", "org-b", Role.ADMIN),
    "token-svc": Caller.service("telemetry"),
}


class Verifier:
    def verify(self, token: str) -> Caller:
        if token not in TOKENS:
            raise Unauthenticated("bad token")
        return TOKENS[token]


class Bus:
    def __init__(self) -> None:
        self.published: list[tuple[str, jobs_pb2.ApiCallsCounted]] = []
        self.refuse = False

    async def publish(self, routing_key: str, event: Message, *, partition_key: str | None = None) -> None:
        if self.refuse:
            raise ConnectionError("broker away")
        assert isinstance(event, jobs_pb2.ApiCallsCounted)
        self.published.append((routing_key, event))

    def totals(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for _, event in self.published:
            found[event.meta.organization_id] = found.get(event.meta.organization_id, 0) + event.calls
        return found


async def answered(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


async def call(counter: ApiCallCounter, token: str | None) -> None:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/devices", "headers": headers}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        return None

    await counter(scope, receive, send)


def counter_on(bus: Bus | None, flush_seconds: float = 3600) -> ApiCallCounter:
    return ApiCallCounter(
        answered, cast(TokenVerifier, Verifier()), bus, UsageCounterSettings(flush_seconds=flush_seconds)
    )


async def test_calls_are_counted_per_organization_and_published_on_flush() -> None:
    bus = Bus()
    counter = counter_on(bus)
    for token in ("token-a", "token-a", "token-b", "token-svc", "forged", None):
        await call(counter, token)
    assert counter.pending() == {"org-a": 2, "org-b": 1}
    assert await counter.flush() == 3
    assert {key for key, _ in bus.published} == {API_CALLS}
    assert bus.totals() == {"org-a": 2, "org-b": 1}
    assert all(event.meta.event_id and event.meta.HasField("occurred_at") for _, event in bus.published)
    assert counter.pending() == {}
    assert await counter.flush() == 0  # nothing new: nothing published
    await counter.stop()


async def test_a_refused_publish_keeps_the_counts_and_stop_publishes_the_rest() -> None:
    bus = Bus()
    counter = counter_on(bus)
    await call(counter, "token-a")
    bus.refuse = True
    assert await counter.flush() == 0
    assert counter.pending() == {"org-a": 1}
    bus.refuse = False
    await call(counter, "token-a")
    await counter.stop()
    assert bus.totals() == {"org-a": 2}


async def test_the_counts_are_flushed_every_interval() -> None:
    bus = Bus()
    counter = counter_on(bus, flush_seconds=0.05)
    await call(counter, "token-b")
    for _ in range(100):
        if bus.published:
            break
        await asyncio.sleep(0.02)
    assert bus.totals() == {"org-b": 1}
    await counter.stop()


async def test_without_a_bus_nothing_is_counted() -> None:
    counter = counter_on(None)
    await call(counter, "token-a")
    assert counter.pending() == {}
    await counter.stop()
