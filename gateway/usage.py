"""API calls per organization for the monthly usage report (spec §6.4): every REST call whose bearer token
verifies as a user of an organization is counted in memory, and the counts are published every
`flush_seconds` as iot.common.v1.ApiCallsCounted on gateway.api_calls (one event per organization); the
analytics service adds them up per month.

Counting costs a dictionary increment per request (the verifier caches verified tokens). Calls by the
platform's own services and calls without a valid token are not counted. Counts not yet flushed when the
process dies are lost (at most `flush_seconds` of them); a flush the bus refuses is kept for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from iot.common.v1 import jobs_pb2
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Receive, Scope, Send

from services.kernel.errors import DomainError
from services.runtime.auth import TokenVerifier, bearer_token
from services.runtime.bus import EventPublisher, event_meta

log = logging.getLogger("iotmon.gateway.usage")

API_CALLS = "gateway.api_calls"


class UsageCounterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_GATEWAY_USAGE_", extra="ignore")

    flush_seconds: float = Field(default=60, gt=0, description="how often counted API calls are published")


class ApiCallCounter:
    """ASGI middleware in front of the transcoder (the REST API)."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        bus: EventPublisher | None,
        settings: UsageCounterSettings | None = None,
    ):
        self._app = app
        self._verifier = verifier
        self._bus = bus
        self._flush_seconds = (settings or UsageCounterSettings()).flush_seconds
        self._counts: Counter[str] = Counter()
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._bus is not None:
            organization_id = self._organization_of(scope)
            if organization_id is not None:
                self._counts[organization_id] += 1
                if self._flusher is None:
                    self._flusher = asyncio.create_task(self._flush_forever(), name="api-call-counter")
        await self._app(scope, receive, send)

    def _organization_of(self, scope: Scope) -> str | None:
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if authorization is None:
            return None
        try:
            caller = self._verifier.verify(bearer_token(authorization.decode("latin-1")))
        except DomainError:
            return None
        return None if caller.is_service else caller.organization_id

    def pending(self) -> dict[str, int]:
        """Counts not published yet, per organization."""
        return dict(self._counts)

    async def flush(self) -> int:
        """Publish the counts so far, one event per organization; how many calls were published."""
        if self._bus is None or not self._counts:
            return 0
        counts, self._counts = self._counts, Counter()
        published = 0
        for organization_id, calls in counts.items():
            try:
                event = jobs_pb2.ApiCallsCounted(meta=event_meta(organization_id), calls=calls)
                await self._bus.publish(API_CALLS, event)
                published += calls
            except Exception:
                log.exception("publishing API call counts failed; kept for the next flush")
                self._counts[organization_id] += calls
        return published

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            await self.flush()

    async def stop(self) -> None:
        """Stop the periodic flush and publish what is left (the gateway's shutdown)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()
