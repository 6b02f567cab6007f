"""History query benchmark: GetDeviceHistory's store work on a month of data, embedded store and PostgreSQL.

Loads 100 devices × 30 UTC days (ending today) of 1-minute readings with 4 metrics (4.3 M readings, 17.3 M
datapoints) through each store's own write() in 10,000-reading calls, then measures p50/p99 of the query
GET /devices/{id}/history?aggregation=15m asks for over the whole 30 days (one device, 4 metrics, 2,880
buckets each), including the shaping into one row per timestamp (domain/history.shape_history).
Target: p50 ≤ 20 ms on the embedded store.

The embedded store is compacted after the load, as a running one would be once those days had ended;
PostgreSQL is measured when reachable at --postgres-dsn (a scratch database is created and dropped).

    python bench/history.py [--devices 100] [--days 30] [--queries 200] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from services.telemetry.adapters.timeseries_embedded import EmbeddedTimeSeriesStore
from services.telemetry.domain.history import HistoryPlan, shape_history
from services.telemetry.domain.model import Reading
from services.telemetry.domain.series import Aggregate, SeriesQuery
from services.telemetry.ports import TimeSeriesStore

DAY_MS = 86_400_000
MINUTE_MS = 60_000
ORG = "org-bench"
METRICS = ("temperature", "humidity", "co2", "battery")
CALL_READINGS = 10_000


def device_id(index: int) -> str:
    return f"dev-{index:05d}"


def readings(devices: int, days: int, first_day_ms: int) -> Iterator[list[Reading]]:
    """Calls of 10,000 readings in time order; the values are drawn vectorised, day by day."""
    rng = np.random.default_rng(5)
    ids = [device_id(d) for d in range(devices)]
    for day in range(days):
        minutes = first_day_ms + day * DAY_MS + np.arange(1440, dtype=np.int64) * MINUTE_MS
        ts = np.repeat(minutes, devices).tolist()
        phase = np.sin((np.repeat(minutes, devices) % DAY_MS) / DAY_MS * 2 * np.pi)
        n = len(ts)
        temperature = (21 + 4 * phase + rng.normal(0, 0.3, n)).round(2).tolist()
        humidity = (45 - 8 * phase + rng.normal(0, 1, n)).round(1).tolist()
        co2 = (420 + 60 * phase + rng.normal(0, 10, n)).round(0).tolist()
        battery = np.linspace(100 - day * 0.5, 99.5 - day * 0.5, n).round(2).tolist()
        day_readings = [
            Reading(ids[i % devices], ORG, "temperature-sensor-v2", ts[i], dict(zip(METRICS, values, strict=True)))
            for i, values in enumerate(zip(temperature, humidity, co2, battery, strict=True))
        ]
        for start in range(0, n, CALL_READINGS):
            yield day_readings[start : start + CALL_READINGS]


async def load(store: TimeSeriesStore, devices: int, days: int, first_day_ms: int) -> tuple[int, float]:
    stored, seconds = 0, 0.0
    for call in readings(devices, days, first_day_ms):
        began = time.perf_counter()
        stored += await store.write(call)
        seconds += time.perf_counter() - began
    return stored, seconds


async def measure_queries(
    store: TimeSeriesStore, devices: int, start_ms: int, end_ms: int, n: int
) -> tuple[list[float], list[float]]:
    """Seconds per history answer (store.query + shape_history), and of those the store.query part."""
    rng = np.random.default_rng(9)
    latencies, in_store = [], []
    for index in rng.integers(0, devices, n).tolist():
        query = SeriesQuery(ORG, (device_id(index),), METRICS, start_ms, end_ms, 900_000, Aggregate.AVG)
        began = time.perf_counter()
        points = await store.query(query)
        queried = time.perf_counter()
        history = shape_history(HistoryPlan(query, "15m", METRICS), points)
        latencies.append(time.perf_counter() - began)
        in_store.append(queried - began)
        assert len(history.rows) == (end_ms - start_ms) // 900_000, len(history.rows)
    return latencies, in_store


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir())


def report(name: str, stored: int, load_seconds: float, measured: tuple[list[float], list[float]]) -> None:
    latencies, in_store = measured
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(
        f"{name:22} stored {stored:,} datapoints in {load_seconds:.1f} s ({stored / load_seconds:,.0f}/s); "
        f"history 15m × 30 d: p50 {statistics.median(latencies) * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms "
        f"(of which store.query p50 {statistics.median(in_store) * 1e3:.1f} ms, "
        f"shape_history p50 {statistics.median(a - b for a, b in zip(latencies, in_store, strict=True)) * 1e3:.1f} ms)",
        flush=True,
    )


async def run_embedded(args: argparse.Namespace, first_day_ms: int, end_ms: int) -> None:
    with tempfile.TemporaryDirectory(prefix="history-bench-") as tmp:
        store = await EmbeddedTimeSeriesStore.open(Path(tmp), compaction_interval=3600)
        try:
            stored, seconds = await load(store, args.devices, args.days, first_day_ms)
            began = time.perf_counter()
            await store.compact()
            print(f"embedded: compaction of the finished days took {time.perf_counter() - began:.1f} s")
            report(
                "embedded (DuckDB)",
                stored,
                seconds,
                await measure_queries(store, args.devices, first_day_ms, end_ms, args.queries),
            )
            print(f"embedded: files {directory_size(Path(tmp)) / 1e6:.0f} MB")
        finally:
            await store.close()


async def run_postgres(args: argparse.Namespace, first_day_ms: int, end_ms: int) -> None:
    import asyncpg

    from services.telemetry.adapters.timeseries_postgres import PostgresTimeSeriesStore

    try:
        admin = await asyncpg.connect(args.postgres_dsn)
    except (OSError, asyncpg.PostgresError) as error:
        print(f"postgres: skipped ({error})")
        return
    database = f"iotmon_history_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{database}"')
    try:
        dsn = args.postgres_dsn.rsplit("/", 1)[0] + f"/{database}"
        store = await PostgresTimeSeriesStore.open(dsn)
        try:
            stored, seconds = await load(store, args.devices, args.days, first_day_ms)
            await store.analyze()
            report(
                "postgres",
                stored,
                seconds,
                await measure_queries(store, args.devices, first_day_ms, end_ms, args.queries),
            )
        finally:
            await store.close()
    finally:
        await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    today_ms = time.time_ns() // 1_000_000 // DAY_MS * DAY_MS
    first_day_ms, end_ms = today_ms - (args.days - 1) * DAY_MS, today_ms + DAY_MS
    total = args.devices * args.days * 1440
    print(
        f"{args.devices} devices × {args.days} days × 1-minute readings = {total:,} readings, {total * 4:,} datapoints"
    )
    await run_embedded(args, first_day_ms, end_ms)
    if not args.no_postgres:
        await run_postgres(args, first_day_ms, end_ms)


if __name__ == "__main__":
    asyncio.run(main())
