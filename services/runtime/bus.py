"""The event bus port and its in-process default.

Events are protobuf messages published on routing keys `<service>.<event>` (docs/architecture.md).
A RabbitMQ adapter with the same interface arrives with the alerting work.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from google.protobuf.message import Message
from iot.common.v1 import common_pb2

from services.kernel.ids import new_id
from services.runtime.context import traceparent_var

log = logging.getLogger("iotmon.bus")

Handler = Callable[[str, bytes], Awaitable[None]]


class EventPublisher(Protocol):
    async def publish(self, routing_key: str, event: Message) -> None: ...


class InProcessBus:
    """Delivers each event to every subscriber whose pattern matches (`*` and `#` as in AMQP topics)."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[str, Handler]] = []

    def subscribe(self, pattern: str, handler: Handler) -> None:
        self._subscribers.append((pattern.replace("#", "*"), handler))

    def has_subscribers(self, routing_key: str) -> bool:
        """Whether an event on this key would reach anyone: a publisher may skip building a costly event
        (telemetry.readings_stored carries every reading of a batch) that nobody in the process receives."""
        return any(fnmatch.fnmatchcase(routing_key, p) for p, _ in self._subscribers)

    async def publish(self, routing_key: str, event: Message) -> None:
        payload = event.SerializeToString()
        targets = [h for p, h in self._subscribers if fnmatch.fnmatchcase(routing_key, p)]
        results = await asyncio.gather(*(h(routing_key, payload) for h in targets), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("event handler failed", extra={"routingKey": routing_key, "error": repr(result)})


def event_meta(organization_id: str, actor_user_id: str | None = None) -> common_pb2.EventMeta:
    meta = common_pb2.EventMeta(
        event_id=new_id("evt"),
        organization_id=organization_id,
        traceparent=traceparent_var.get() or "",
        actor_user_id=actor_user_id or "",
    )
    meta.occurred_at.FromDatetime(datetime.now(UTC))
    return meta
