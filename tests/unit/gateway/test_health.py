"""Readiness: cached for a moment, shared by concurrent probes, 503 naming what is not serving."""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request

from gateway.health import Readiness


class CountingHealth:
    """An in-memory health source: answers the statuses it holds and counts the rounds of checks."""

    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses
        self.rounds = 0

    async def health(self, timeout_seconds: float) -> dict[str, str]:
        self.rounds += 1
        await asyncio.sleep(0.01)
        return dict(self.statuses)


def probe() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/readyz", "headers": []})


async def test_answers_are_cached_and_shared_by_concurrent_probes() -> None:
    source = CountingHealth({"device": "SERVING"})
    readiness = Readiness(source, cache_seconds=60, check_timeout_seconds=1)
    await asyncio.gather(*(readiness.statuses() for _ in range(5)))
    await readiness.statuses()
    assert source.rounds == 1


async def test_without_cache_every_probe_checks() -> None:
    source = CountingHealth({"device": "SERVING"})
    readiness = Readiness(source, cache_seconds=0, check_timeout_seconds=1)
    await readiness.statuses()
    await readiness.statuses()
    assert source.rounds == 2


async def test_ready_only_when_every_upstream_serves() -> None:
    source = CountingHealth({"device": "SERVING", "identity": "SERVING"})
    readiness = Readiness(source, cache_seconds=0, check_timeout_seconds=1)
    ready = await readiness.endpoint(probe())
    assert ready.status_code == 200
    assert orjson.loads(ready.body)["status"] == "ready"
    source.statuses["identity"] = "UNAVAILABLE"
    source.statuses["device"] = "NOT_SERVING"
    not_ready = await readiness.endpoint(probe())
    assert not_ready.status_code == 503
    error = orjson.loads(not_ready.body)["error"]
    assert error["code"] == "NOT_READY"
    assert error["details"]["notReady"] == ["device", "identity"]
