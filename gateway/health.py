"""/healthz (the process answers) and /readyz (every upstream service answers SERVING).

Readiness asks each service's grpc.health.v1 endpoint and keeps the answer for about a second, so probes
from several kubelets or load balancers cost one round of checks, and concurrent probes share it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import HttpError, error_body
from services.runtime.context import request_id_var

SERVING = "SERVING"


class HealthSource(Protocol):
    """Answers the grpc.health.v1 status of each upstream by service name (gateway.upstream.Upstreams)."""

    async def health(self, timeout_seconds: float) -> dict[str, str]: ...


class Readiness:
    def __init__(self, upstreams: HealthSource, cache_seconds: float, check_timeout_seconds: float):
        self._upstreams = upstreams
        self._cache_seconds = cache_seconds
        self._timeout = check_timeout_seconds
        self._lock = asyncio.Lock()
        self._checked_at = float("-inf")
        self._statuses: dict[str, str] = {}

    async def statuses(self) -> dict[str, str]:
        async with self._lock:
            if time.monotonic() - self._checked_at >= self._cache_seconds:
                self._statuses = await self._upstreams.health(self._timeout)
                self._checked_at = time.monotonic()
            return self._statuses

    async def endpoint(self, request: Request) -> Response:
        statuses = await self.statuses()
        not_ready = sorted(name for name, status in statuses.items() if status != SERVING)
        if not not_ready:
            return _json(200, orjson.dumps({"status": "ready", "upstreams": statuses}))
        error = HttpError(
            503,
            "NOT_READY",
            f"upstream services not serving: {', '.join(not_ready)}",
            {"notReady": not_ready, "upstreams": statuses},
        )
        return _json(503, error_body(error, request_id_var.get()))


async def healthz(request: Request) -> Response:
    return _json(200, b'{"status":"ok"}')


def _json(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")
