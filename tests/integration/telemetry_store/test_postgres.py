"""What only the PostgreSQL store has: several replicas on one database, its table layout, the anomaly column."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.telemetry.adapters.timeseries_postgres import PostgresTimeSeriesStore
from tests.integration.telemetry_store.test_contract import MINUTE, ORG, T0, query, reading
from tests.support.postgres import scratch_schema


@pytest.fixture
async def schema(postgres_dsn: str) -> AsyncIterator[str]:
    async with scratch_schema("t", postgres_dsn) as name:
        yield name


async def test_replicas_share_keys_and_datapoints(postgres_dsn: str, schema: str) -> None:
    replicas = await asyncio.gather(*(PostgresTimeSeriesStore.open(postgres_dsn, schema=schema) for _ in range(3)))
    try:
        # Every replica meets the same new devices and metrics at once, with overlapping readings.
        batches = [
            [reading(f"dev-{d}", T0 + (r + m) * MINUTE, temperature=1.0, co2=2.0) for d in range(20) for m in range(5)]
            for r in range(3)
        ]
        stored = await asyncio.gather(*(replica.write(batch) for replica, batch in zip(replicas, batches, strict=True)))

        assert sum(stored) == 20 * 7 * 2  # minutes 0..6 of 20 devices, 2 metrics, however the work was split
        for replica in replicas:
            assert await replica.count(ORG) == 280
            assert len(await replica.query(query(("dev-7",), ("co2",)))) == 7
    finally:
        await asyncio.gather(*(replica.close() for replica in replicas))


async def test_a_new_instance_finds_what_an_earlier_one_stored(postgres_dsn: str, schema: str) -> None:
    first = await PostgresTimeSeriesStore.open(postgres_dsn, schema=schema)
    await first.write([reading(t=T0 + m * MINUTE, temperature=float(m)) for m in range(10)])
    await first.close()

    second = await PostgresTimeSeriesStore.open(postgres_dsn, schema=schema)
    try:
        assert await second.write([reading(t=T0 + m * MINUTE, temperature=0.0) for m in range(12)]) == 2
        assert [p.value for p in await second.query(query())][:3] == [0.0, 1.0, 2.0]
    finally:
        await second.close()


async def test_anomaly_flags_and_the_table_layout(postgres_dsn: str, schema: str) -> None:
    store = await PostgresTimeSeriesStore.open(postgres_dsn, schema=schema)
    try:
        flagged = reading(temperature=80.0, humidity=40.0)
        flagged.anomalies = frozenset({"temperature"})
        await store.write([flagged])
    finally:
        await store.close()

    connection = await asyncpg.connect(postgres_dsn, server_settings={"search_path": schema})
    try:
        rows = await connection.fetch(
            "SELECT m.metric, p.anomaly FROM ts_points p JOIN ts_metrics m USING (metric_key) ORDER BY 1"
        )
        indexes = await connection.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'ts_points'")
    finally:
        await connection.close()
    assert [tuple(row) for row in rows] == [("humidity", False), ("temperature", True)]
    definitions = " ".join(row["indexdef"] for row in indexes)
    assert "USING brin (ts)" in definitions
    assert "USING btree (device_key, metric_key, ts)" in definitions
