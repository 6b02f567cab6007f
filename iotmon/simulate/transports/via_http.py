"""HTTP: batches of records as POST /telemetry {"records": [...]}, several requests in flight (httpx)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import orjson

from iotmon.simulate.generator import TelemetryRecord
from iotmon.simulate.stats import Counters
from iotmon.simulate.transports.base import InFlight

JSON = {"content-type": "application/json"}


def error_code(response: httpx.Response) -> str:
    """`HTTP 503 UPSTREAM_UNAVAILABLE` from a §8.2 error body, or just the status when there is none."""
    try:
        code = orjson.loads(response.content)["error"]["code"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
    return f"HTTP {response.status_code} {code}"


class HttpTransport:
    linger = 0.1  # seconds to fill a batch

    def __init__(self, client: httpx.AsyncClient, batch_size: int, concurrency: int, counters: Counters):
        self.max_batch = batch_size
        self._client = client
        self._counters = counters
        self._in_flight = InFlight(concurrency, counters)

    async def send(self, records: list[TelemetryRecord]) -> None:
        for start in range(0, len(records), self.max_batch):
            batch = records[start : start + self.max_batch]
            await self._in_flight.start(self._post(batch), len(batch))

    async def drain(self) -> None:
        await self._in_flight.wait()

    async def abandon(self) -> None:
        await self._in_flight.abandon()

    async def _post(self, batch: list[TelemetryRecord]) -> None:
        counters = self._counters
        try:
            response = await self._client.post("/telemetry", content=orjson.dumps({"records": batch}), headers=JSON)
        except httpx.HTTPError as error:
            counters.fail(len(batch), f"HTTP {type(error).__name__}")
            return
        if response.status_code != httpx.codes.OK:
            counters.fail(len(batch), error_code(response))
            return
        answer = orjson.loads(response.content)
        counters.acknowledged += int(answer.get("accepted", 0))
        for failure in answer.get("failed", []):
            counters.fail(1, str(failure.get("reason", "UNKNOWN")))


@contextlib.asynccontextmanager
async def open_http(
    gateway: str, token: str, batch_size: int, concurrency: int, counters: Counters
) -> AsyncIterator[HttpTransport]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=gateway, headers=headers, limits=limits, timeout=30.0) as client:
        transport = HttpTransport(client, batch_size, concurrency, counters)
        try:
            yield transport
        finally:
            await transport.abandon()
