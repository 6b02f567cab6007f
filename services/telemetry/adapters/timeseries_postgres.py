"""The production TimeSeriesStore: PostgreSQL through asyncpg; the same tables run on TimescaleDB.

Layout: ts_points(device_key, metric_key, ts timestamptz, value, anomaly) with its primary key — a btree on
(device_key, metric_key, ts) — and a BRIN index on ts; names live in ts_devices and ts_metrics. Chosen over
declarative range partitions because: the history of one device is a range scan of that btree whatever the
partitioning; the table is a plain one, so on TimescaleDB `SELECT create_hypertable('ts_points', 'ts',
migrate_data => true)` turns it into a hypertable as it is (a declaratively partitioned table cannot be);
and there is no job creating partitions ahead, whose failure would make writes fail. The BRIN index (a few
pages per GB, since rows arrive in time order) serves scans by time alone: retention deletes, archival (§6.1),
usage counts. The price: retention is a DELETE (TimescaleDB: drop_chunks) rather than dropping a partition.

Write path, one transaction per call: unknown device and metric names get keys first (INSERT … ON CONFLICT DO
NOTHING, so several replicas agree), the datapoints are COPYed (binary) into a temporary staging table, then
INSERT … SELECT DISTINCT ON … ON CONFLICT DO NOTHING moves them: a datapoint stored before, or twice in the
call, is stored once (the first value stays) and the INSERT's row count is the number of new ones. Durable at
commit (synchronous_commit on, the server's default).

Queries bucket with date_bin (epoch-aligned) and aggregate in SQL, percentiles with percentile_cont.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Self

import asyncpg
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs

from services.runtime.postgres import create_schema
from services.telemetry.adapters.archive_table import day_table, ts_millis
from services.telemetry.adapters.timeseries_columns import DeviceTable, KeyTable, flatten
from services.telemetry.domain.archive import DAY_MS, DayPartition
from services.telemetry.domain.model import Reading
from services.telemetry.domain.series import Aggregate, DailyCount, SeriesPoint, SeriesQuery

SCHEMA = """
CREATE TABLE IF NOT EXISTS ts_devices (
    device_key integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id text NOT NULL,
    device_id text NOT NULL,
    UNIQUE (organization_id, device_id)
);
CREATE TABLE IF NOT EXISTS ts_metrics (
    metric_key integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    metric text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS ts_points (
    device_key integer NOT NULL,
    metric_key integer NOT NULL,
    ts timestamptz NOT NULL,
    value double precision NOT NULL,
    anomaly boolean NOT NULL DEFAULT false,
    -- INCLUDE (value): a history query is an index-only scan, not a visit of heap pages shared by all devices.
    PRIMARY KEY (device_key, metric_key, ts) INCLUDE (value)
);
CREATE INDEX IF NOT EXISTS ts_points_ts_brin ON ts_points USING brin (ts);
"""
STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS ts_staging (
    seq integer, device_key integer, metric_key integer, ts_ms bigint, value double precision, anomaly boolean
) ON COMMIT DELETE ROWS
"""
STAGING_COLUMNS = ("seq", "device_key", "metric_key", "ts_ms", "value", "anomaly")
MOVE = """
INSERT INTO ts_points (device_key, metric_key, ts, value, anomaly)
SELECT DISTINCT ON (device_key, metric_key, ts_ms)
       device_key, metric_key, timestamptz 'epoch' + ts_ms * interval '1 millisecond', value, anomaly
FROM ts_staging ORDER BY device_key, metric_key, ts_ms, seq
ON CONFLICT DO NOTHING
"""
AGGREGATES = {
    Aggregate.AVG: "avg(p.value)",
    Aggregate.MIN: "min(p.value)",
    Aggregate.MAX: "max(p.value)",
    Aggregate.SUM: "sum(p.value)",
    Aggregate.COUNT: "count(*)::double precision",
    Aggregate.P50: "percentile_cont(0.5) WITHIN GROUP (ORDER BY p.value)",
    Aggregate.P95: "percentile_cont(0.95) WITHIN GROUP (ORDER BY p.value)",
    Aggregate.P99: "percentile_cont(0.99) WITHIN GROUP (ORDER BY p.value)",
}
# The requested devices of the organization and metrics (all when none named); their datapoints in the range,
# filtered and grouped by integer keys (names are joined to the few result rows only).
NAMES = """
WITH dk AS (SELECT device_key, device_id FROM ts_devices WHERE organization_id = $1 AND device_id = ANY($2::text[])),
     mk AS (SELECT metric_key, metric FROM ts_metrics WHERE cardinality($3::text[]) = 0 OR metric = ANY($3::text[]))
"""
SELECTION = """
FROM ts_points p
WHERE p.device_key IN (SELECT device_key FROM dk) AND p.metric_key IN (SELECT metric_key FROM mk)
  AND p.ts >= timestamptz 'epoch' + $4::bigint * interval '1 millisecond'
  AND p.ts < timestamptz 'epoch' + $5::bigint * interval '1 millisecond'
"""
ORDER = 'ORDER BY dk.device_id COLLATE "C", mk.metric COLLATE "C", q.t'


class PostgresTimeSeriesStore:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool
        self._devices = DeviceTable()
        self._metrics = KeyTable()

    @classmethod
    async def open(cls, dsn: str, *, schema: str | None = None, max_connections: int = 8) -> Self:
        """Connect and create the tables when missing (in `schema` when given, e.g. one per test run)."""
        settings = {}
        if schema:
            admin = await asyncpg.connect(dsn)
            try:
                await create_schema(admin, schema)
            finally:
                await admin.close()
            settings["search_path"] = f'"{schema}"'
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=max_connections, server_settings=settings, init=_create_staging
        )
        async with pool.acquire() as connection, connection.transaction():
            # One replica at a time creates the tables (CREATE … IF NOT EXISTS races otherwise).
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.ts_points'))")
            await connection.execute(SCHEMA)
        return cls(pool)

    async def write(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        await self._learn_keys(readings)
        devices, metrics = self._devices.keys, self._metrics.keys
        points = flatten([readings], lambda org, device: devices[(org, device)], metrics.__getitem__)
        records = zip(
            range(len(points)), points.device, points.metric, points.ts, points.value, points.anomaly, strict=True
        )
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.copy_records_to_table("ts_staging", records=records, columns=STAGING_COLUMNS)
            status = await connection.execute(MOVE)
        return int(status.rsplit(" ", 1)[1])

    async def query(self, query: SeriesQuery) -> list[SeriesPoint]:
        if not query.device_ids:
            return []
        arguments: list[Any] = [
            query.organization_id,
            list(query.device_ids),
            list(query.metrics),
            query.start_ms,
            query.end_ms,
        ]
        if query.bucket_ms is None:
            points = f"SELECT p.device_key, p.metric_key, p.ts AS t, p.value {SELECTION}"
        else:
            arguments.append(timedelta(milliseconds=query.bucket_ms))
            points = (
                f"SELECT p.device_key, p.metric_key, date_bin($6::interval, p.ts, timestamptz 'epoch') AS t, "
                f"{AGGREGATES[query.aggregate]} AS value {SELECTION} GROUP BY 1, 2, 3"
            )
        # Times leave as epoch milliseconds computed once per output row (date_part is a double: exact for ms).
        rows = await self._pool.fetch(
            f"{NAMES} SELECT dk.device_id, mk.metric, round(date_part('epoch', q.t) * 1000)::bigint, q.value "
            f"FROM ({points}) q JOIN dk USING (device_key) JOIN mk USING (metric_key) {ORDER}",
            *arguments,
        )
        return [SeriesPoint(*row) for row in rows]

    async def count(self, organization_id: str | None = None, device_id: str | None = None) -> int:
        if organization_id is None and device_id is None:
            return int(await self._pool.fetchval("SELECT count(*) FROM ts_points"))
        total = await self._pool.fetchval(
            "SELECT count(*) FROM ts_points p JOIN ts_devices d USING (device_key) "
            "WHERE ($1::text IS NULL OR d.organization_id = $1) AND ($2::text IS NULL OR d.device_id = $2)",
            organization_id,
            device_id,
        )
        return int(total)

    async def daily_counts(self, organization_id: str, start_ms: int, end_ms: int) -> list[DailyCount]:
        # The BRIN index on ts bounds the scan to the range; the devices are the organization's keys.
        rows = await self._pool.fetch(
            "SELECT (floor(date_part('epoch', date_bin('1 day', p.ts, timestamptz 'epoch'))) * 1000)::bigint, count(*) "
            "FROM ts_points p WHERE p.device_key IN (SELECT device_key FROM ts_devices WHERE organization_id = $1) "
            "AND p.ts >= timestamptz 'epoch' + $2::bigint * interval '1 millisecond' "
            "AND p.ts < timestamptz 'epoch' + $3::bigint * interval '1 millisecond' GROUP BY 1 ORDER BY 1",
            organization_id,
            start_ms,
            end_ms,
        )
        return [DailyCount(int(day), int(n)) for day, n in rows]

    async def archivable_days(self, before_ms: int) -> list[DayPartition]:
        # The BRIN index on ts bounds the scan to the old rows.
        rows = await self._pool.fetch(
            "SELECT d.organization_id, (floor(date_part('epoch', date_bin('1 day', p.ts, timestamptz 'epoch'))) "
            "* 1000)::bigint AS day, count(*) FROM ts_points p JOIN ts_devices d USING (device_key) "
            "WHERE p.ts < timestamptz 'epoch' + $1::bigint * interval '1 millisecond' "
            'GROUP BY 1, 2 ORDER BY 2, d.organization_id COLLATE "C"',
            before_ms,
        )
        return [DayPartition(organization, int(day), int(n)) for organization, day, n in rows]

    async def day_datapoints(self, organization_id: str, day_start_ms: int) -> pa.Table:
        rows = await self._pool.fetch(
            "SELECT d.device_id, m.metric, round(date_part('epoch', p.ts) * 1000)::bigint, p.value, p.anomaly "
            "FROM ts_points p JOIN ts_devices d USING (device_key) JOIN ts_metrics m USING (metric_key) "
            "WHERE d.organization_id = $1 AND p.ts >= timestamptz 'epoch' + $2::bigint * interval '1 millisecond' "
            "AND p.ts < timestamptz 'epoch' + $3::bigint * interval '1 millisecond'",
            organization_id,
            day_start_ms,
            day_start_ms + DAY_MS,
        )
        columns = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
        return day_table(*columns)

    async def delete_datapoints(self, organization_id: str, archived: pa.Table) -> int:
        if not archived.num_rows:
            return 0
        status = await self._pool.execute(
            "DELETE FROM ts_points p USING ts_devices d, ts_metrics m, "
            "unnest($2::text[], $3::text[], $4::bigint[]) AS k(device_id, metric, ts_ms) "
            "WHERE d.organization_id = $1 AND d.device_id = k.device_id AND m.metric = k.metric "
            "AND p.device_key = d.device_key AND p.metric_key = m.metric_key "
            "AND p.ts = timestamptz 'epoch' + k.ts_ms * interval '1 millisecond'",
            organization_id,
            archived["device_id"].to_pylist(),
            archived["metric"].to_pylist(),
            ts_millis(archived).tolist(),
        )
        return int(status.rsplit(" ", 1)[1])

    async def analyze(self) -> None:
        """Statistics and visibility map after a bulk load (index-only scans need the latter); autovacuum does
        both in time otherwise."""
        await self._pool.execute("VACUUM (ANALYZE) ts_points")

    async def close(self) -> None:
        await self._pool.close()

    async def _learn_keys(self, readings: Sequence[Reading]) -> None:
        """Give keys to the names this store has not seen yet (every replica gets the same ones)."""
        known_devices, known_metrics = self._devices.keys, self._metrics.keys
        devices = {(r.organization_id, r.device_id) for r in readings} - known_devices.keys()
        metrics = {name for r in readings for name in r.values} - known_metrics.keys()
        if not devices and not metrics:
            return
        # Insert, then read back in a second statement: its snapshot also sees keys another replica just added.
        async with self._pool.acquire() as connection:
            if devices:
                organizations, ids = (list(column) for column in zip(*devices, strict=True))
                await connection.execute(
                    "INSERT INTO ts_devices (organization_id, device_id) "
                    "SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
                    organizations,
                    ids,
                )
                for key, organization, device in await connection.fetch(
                    "SELECT d.device_key, d.organization_id, d.device_id FROM ts_devices d "
                    "JOIN unnest($1::text[], $2::text[]) AS g(organization_id, device_id) "
                    "USING (organization_id, device_id)",
                    organizations,
                    ids,
                ):
                    self._devices.remember(key, organization, device)
            if metrics:
                names = sorted(metrics)
                await connection.execute(
                    "INSERT INTO ts_metrics (metric) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", names
                )
                for key, metric in await connection.fetch(
                    "SELECT metric_key, metric FROM ts_metrics WHERE metric = ANY($1::text[])", names
                ):
                    self._metrics.remember(key, metric)


async def _create_staging(connection: asyncpg.Connection) -> None:
    await connection.execute(STAGING)
