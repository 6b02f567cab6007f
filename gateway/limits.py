"""Per-token rate limiting: one token bucket per caller (organization and subject), 429 when it is empty.

In front of the transcoder only (the REST API); health, docs, console and the signed object URLs carry no
bearer token. A request whose token does not verify passes on untouched, so the transcoder answers it with
its own 401. The verifier caches verified tokens, so checking the token here costs a dictionary lookup.

The limit is per gateway process: with N replicas behind the load balancer a caller gets up to N times the
configured rate (docs/security.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import HttpError, error_body
from gateway.transcode import send_json
from services.kernel.errors import DomainError
from services.runtime.auth import TokenVerifier, bearer_token
from services.runtime.context import request_id_var

# Buckets kept at most; past this the full (idle) ones are forgotten, as a new bucket starts full anyway.
MAX_TRACKED_CALLERS = 100_000


@dataclass
class TokenBucket:
    """`capacity` requests at once, refilled at `rate` per second."""

    capacity: float
    rate: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0 when a request may go ahead (and takes its token), else the seconds until one can."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def is_full(self, now: float) -> bool:
        return self.tokens + (now - self.updated) * self.rate >= self.capacity


class RateLimiter:
    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = MAX_TRACKED_CALLERS,
    ):
        if per_second <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._max_callers = max_callers
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    @property
    def tracked_callers(self) -> int:
        return len(self._buckets)

    def retry_after(self, caller: tuple[str, str]) -> float:
        """0 when `caller` (organization, subject) may make a request now, else the seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= self._max_callers:
                self._forget_idle(now)
            bucket = self._buckets[caller] = TokenBucket(self.burst, self.per_second, self.burst, now)
        return bucket.take(now)

    def _forget_idle(self, now: float) -> None:
        self._buckets = {key: b for key, b in self._buckets.items() if not b.is_full(now)}
        if len(self._buckets) >= self._max_callers:
            self._buckets.clear()  # every caller busy at once: start everyone afresh rather than grow without end


class RateLimitMiddleware:
    """429 RATE_LIMITED (§8.2 body, Retry-After in whole seconds) once a caller's bucket is empty."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, limiter: RateLimiter):
        self._app = app
        self._verifier = verifier
        self._limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            caller = self._caller_of(scope)
            wait = self._limiter.retry_after(caller) if caller is not None else 0.0
            if wait > 0:
                await send_json(send, 429, error_body(self._refusal(wait), request_id_var.get()), _headers(wait))
                return
        await self._app(scope, receive, send)

    def _caller_of(self, scope: Scope) -> tuple[str, str] | None:
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if authorization is None:
            return None
        try:
            caller = self._verifier.verify(bearer_token(authorization.decode("latin-1")))
        except DomainError:
            return None  # the transcoder answers 401 (or lets an anonymous route through) as usual
        return caller.organization_id, caller.user_id

    def _refusal(self, wait: float) -> HttpError:
        limiter = self._limiter
        return HttpError(
            429,
            "RATE_LIMITED",
            f"too many requests with this token; at most {limiter.per_second:g} per second "
            f"(bursts of {limiter.burst}); retry after {_seconds(wait)} s",
            {"retryAfterSeconds": str(_seconds(wait)), "limitPerSecond": f"{limiter.per_second:g}"},
        )


def _seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


def _headers(wait: float) -> dict[str, str]:
    return {"Retry-After": str(_seconds(wait))}
