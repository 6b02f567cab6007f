"""Every TimeSeriesStore adapter behind one fixture; PostgreSQL gets a scratch database for the session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from services.telemetry.adapters.timeseries_embedded import EmbeddedTimeSeriesStore
from services.telemetry.adapters.timeseries_memory import InMemoryTimeSeriesStore
from services.telemetry.adapters.timeseries_postgres import PostgresTimeSeriesStore
from services.telemetry.domain.model import Reading
from services.telemetry.domain.series import DailyCount, SeriesPoint, SeriesQuery
from services.telemetry.ports import TimeSeriesStore
from tests.support.servers import require_server

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"


def _admin(statement: str) -> None:
    """Run one statement on the server's maintenance database (in a thread: a test's event loop may be running)."""

    async def run() -> None:
        connection = await asyncpg.connect(f"{POSTGRES_SERVER}/postgres")
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A database of its own for this test session, dropped at the end."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    database = f"iotmon_timeseries_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{database}"')
    try:
        yield f"{POSTGRES_SERVER}/{database}"
    finally:
        _admin(f'DROP DATABASE "{database}" WITH (FORCE)')


class CompactingStore:
    """The embedded store compacting after every write, so queries and duplicate checks meet sorted runs."""

    def __init__(self, store: EmbeddedTimeSeriesStore):
        self.inner = store

    async def write(self, readings: Sequence[Reading]) -> int:
        stored = await self.inner.write(readings)
        await self.inner.compact()
        return stored

    async def query(self, query: SeriesQuery) -> list[SeriesPoint]:
        return await self.inner.query(query)

    async def count(self, organization_id: str | None = None, device_id: str | None = None) -> int:
        return await self.inner.count(organization_id, device_id)

    async def daily_counts(self, organization_id: str, start_ms: int, end_ms: int) -> list[DailyCount]:
        return await self.inner.daily_counts(organization_id, start_ms, end_ms)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture(params=["memory", "embedded", "embedded-compacted", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    opened: TimeSeriesStore
    if request.param == "memory":
        opened = InMemoryTimeSeriesStore()
    elif request.param == "embedded":
        opened = await EmbeddedTimeSeriesStore.open(tmp_path)
    elif request.param == "embedded-compacted":
        opened = CompactingStore(await EmbeddedTimeSeriesStore.open(tmp_path))
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        opened = await PostgresTimeSeriesStore.open(dsn, schema=f"t_{uuid.uuid4().hex[:10]}")
    try:
        yield opened
    finally:
        await opened.close()
