"""Embedded time-series engines compared: SQLite against DuckDB, each in its best layout, on the same data.

For each candidate, on this machine, in one run:
  1. history load: 100 devices × 30 UTC days (ending today) of 1-minute 4-metric data, 17.3 M datapoints,
     bulk-loaded in the engine's own layout (not timed as ingest);
  2. history query: p50/p99 of a 15-minute average over the whole 30 days for one device (4 metrics,
     11,520 buckets), rows fetched into Python — what GetDeviceHistory asks of the store;
  3. ingest: 500-reading batches (2,000 datapoints) of 1,000 devices, each batch its own durable
     transaction, 10 % of the readings re-sent from the previous batch and 3 % out of order — readings/s and
     new datapoints/s, written on top of the loaded data;
  4. file size after the load.

Candidates (datapoints are narrow rows: series or device+metric, time, value, anomaly flag):
  sqlite         WITHOUT ROWID table clustered by (series, time), INSERT OR IGNORE; history by GROUP BY
  sqlite-rollup  the same plus a 15-minute rollup (count/sum/min/max) kept in the write transaction from the
                 new rows only; history from the rollup
  duckdb         one table in arrival order, duplicates removed by an anti-join; history by GROUP BY
  duckdb-sorted  the layout EmbeddedTimeSeriesStore uses: a `recent` table taking writes and finished UTC days
                 moved to a table sorted by (device, metric, time), so zone maps narrow a device's history to a
                 few row groups; per-device high-water marks let in-order data skip the duplicate check

    python bench/tsdb.py [--devices 100] [--days 30] [--only sqlite,duckdb-sorted]

The script deletes its files (a temporary directory) when it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from services.telemetry.adapters.timeseries_compaction import Compactor
from services.telemetry.adapters.timeseries_duckdb import TABLES, connect
from services.telemetry.adapters.timeseries_embedded import EmbeddedTimeSeriesStore
from services.telemetry.domain.model import Reading

MINUTE_MS = 60_000
DAY_MS = 86_400_000
BUCKET_MS = 900_000
METRICS = 4
BATCH_READINGS = 500
INGEST_BATCHES = 200
INGEST_DEVICES = 1_000


@dataclass
class Columns:
    """Datapoints as columns: device index, metric index, epoch-ms time, value."""

    device: np.ndarray
    metric: np.ndarray
    ts: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def series(self) -> np.ndarray:
        return self.device.astype(np.int64) * 8 + self.metric


def history_days(devices: int, days: int, today_start_ms: int) -> Iterator[Columns]:
    """One UTC day of 1-minute readings of every device at a time, in arrival (time) order, vectorised."""
    rng = np.random.default_rng(7)
    first_day = today_start_ms - (days - 1) * DAY_MS
    per_day = devices * 1440 * METRICS
    for day in range(days):
        minutes = first_day + day * DAY_MS + np.arange(1440, dtype=np.int64) * MINUTE_MS
        ts = np.repeat(minutes, devices * METRICS)
        device = np.tile(np.repeat(np.arange(devices, dtype=np.int32), METRICS), 1440)
        metric = np.tile(np.arange(METRICS, dtype=np.int32), devices * 1440)
        daily = 5 * np.sin((ts % DAY_MS) / DAY_MS * 2 * np.pi)
        yield Columns(device, metric, ts, 20 + daily + rng.normal(0, 0.5, per_day))


def ingest_batches(start_ms: int) -> list[Columns]:
    """500-reading batches of 1,000 devices: 10 % re-sent from the previous batch, 3 % out of order."""
    rng = np.random.default_rng(11)
    batches: list[Columns] = []
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for k in range(INGEST_BATCHES):
        device = rng.integers(0, INGEST_DEVICES, BATCH_READINGS).astype(np.int32)
        ts = start_ms + k * 1_000 + rng.integers(0, 1_000, BATCH_READINGS)
        late = rng.random(BATCH_READINGS) < 0.03
        ts[late] -= rng.integers(60_000, 600_000, int(late.sum()))
        if previous is not None:
            again = rng.random(BATCH_READINGS) < 0.10
            device[again], ts[again] = previous[0][again], previous[1][again]
        previous = (device, ts)
        batches.append(
            Columns(
                np.repeat(device, METRICS),
                np.tile(np.arange(METRICS, dtype=np.int32), BATCH_READINGS),
                np.repeat(ts, METRICS).astype(np.int64),
                rng.normal(20, 3, BATCH_READINGS * METRICS),
            )
        )
    return batches


class Engine(Protocol):
    name: str

    def load_day(self, day: Columns) -> None: ...
    def end_of_load(self) -> None: ...
    def write(self, batch: Columns) -> int: ...
    def history(self, device: int, start_ms: int, end_ms: int) -> list[tuple[object, ...]]: ...
    def size(self) -> int: ...
    def close(self) -> None: ...


def _file_size(*paths: Path) -> int:
    return sum(p.stat().st_size for p in paths if p.exists())


class SqliteEngine:
    """Clustered by (series, ts); WAL + synchronous=NORMAL: durable against a process crash, no fsync per commit."""

    name = "sqlite"

    def __init__(self, directory: Path, rollup: bool = False):
        self.path = directory / f"{self.name}{'-rollup' if rollup else ''}.db"
        self.rollup = rollup
        self.db = sqlite3.connect(self.path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-262144", "temp_store=MEMORY"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(
            """
            CREATE TABLE points (series INTEGER, ts INTEGER, value REAL, anomaly INTEGER NOT NULL DEFAULT 0,
                                 PRIMARY KEY (series, ts)) WITHOUT ROWID;
            CREATE TABLE rollup_15m (series INTEGER, bucket INTEGER, n INTEGER, total REAL, low REAL, high REAL,
                                     PRIMARY KEY (series, bucket)) WITHOUT ROWID;
            CREATE TEMP TABLE stage (series INTEGER, ts INTEGER, value REAL, PRIMARY KEY (series, ts)) WITHOUT ROWID;
            """
        )

    def load_day(self, day: Columns) -> None:
        self._insert(day)

    def end_of_load(self) -> None:
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def write(self, batch: Columns) -> int:
        return self._insert(batch)

    def _insert(self, cols: Columns) -> int:
        rows = zip(cols.series().tolist(), cols.ts.tolist(), cols.value.tolist(), strict=True)
        self.db.execute("BEGIN")
        if not self.rollup:
            before = self.db.total_changes
            self.db.executemany("INSERT OR IGNORE INTO points (series, ts, value) VALUES (?, ?, ?)", rows)
            new = self.db.total_changes - before
        else:
            new = self._insert_with_rollup(rows)
        self.db.execute("COMMIT")
        return new

    def _insert_with_rollup(self, rows: Iterator[tuple[int, int, float]]) -> int:
        # Only datapoints new to the table may enter the rollup, or a re-sent reading would count twice.
        self.db.executemany("INSERT OR IGNORE INTO stage VALUES (?, ?, ?)", rows)
        self.db.execute(
            "DELETE FROM stage WHERE EXISTS (SELECT 1 FROM points p WHERE p.series = stage.series AND p.ts = stage.ts)"
        )
        new = self.db.execute("INSERT INTO points (series, ts, value) SELECT * FROM stage").rowcount
        self.db.execute(
            f"""INSERT INTO rollup_15m SELECT series, ts - ts % {BUCKET_MS} AS b, count(*), sum(value), min(value),
                max(value) FROM stage WHERE true GROUP BY series, b
                ON CONFLICT DO UPDATE SET n = n + excluded.n, total = total + excluded.total,
                low = min(low, excluded.low), high = max(high, excluded.high)"""
        )
        self.db.execute("DELETE FROM stage")
        return new

    def history(self, device: int, start_ms: int, end_ms: int) -> list[tuple[object, ...]]:
        low, high = device * 8, device * 8 + 7
        if self.rollup:
            sql = (
                "SELECT series, bucket, total / n FROM rollup_15m WHERE series BETWEEN ? AND ? "
                "AND bucket >= ? AND bucket < ? ORDER BY series, bucket"
            )
        else:
            sql = (
                f"SELECT series, ts - ts % {BUCKET_MS} AS b, avg(value) FROM points WHERE series BETWEEN ? AND ? "
                "AND ts >= ? AND ts < ? GROUP BY series, b ORDER BY series, b"
            )
        return self.db.execute(sql, (low, high, start_ms, end_ms)).fetchall()

    def size(self) -> int:
        return _file_size(self.path, Path(f"{self.path}-wal"))

    def close(self) -> None:
        self.db.close()


class SqliteRollupEngine(SqliteEngine):
    name = "sqlite-rollup"

    def __init__(self, directory: Path):
        super().__init__(directory, rollup=True)


DUCK_COLUMNS = "device INTEGER NOT NULL, metric INTEGER NOT NULL, ts BIGINT NOT NULL, value DOUBLE NOT NULL"


class DuckdbEngine:
    """One table in arrival order; every batch is checked against the table by an anti-join."""

    name = "duckdb"

    def __init__(self, directory: Path):
        self.path = directory / f"{self.name}.duckdb"
        self.db = duckdb.connect(self.path)
        self.db.execute(f"CREATE TABLE points ({DUCK_COLUMNS}, anomaly BOOLEAN NOT NULL DEFAULT false)")

    def load_day(self, day: Columns) -> None:
        self.write(day)

    def end_of_load(self) -> None:
        self.db.execute("CHECKPOINT")

    def write(self, batch: Columns) -> int:
        lo, hi = int(batch.ts.min()), int(batch.ts.max())
        staged = _arrow(batch)  # noqa: F841 - DuckDB reads Arrow tables by their variable's name
        inserted = self.db.execute(
            f"""INSERT INTO points (device, metric, ts, value)
                SELECT device, metric, ts, first(value) FROM staged b WHERE NOT EXISTS (
                  SELECT 1 FROM points p WHERE p.ts BETWEEN {lo} AND {hi}
                  AND p.device = b.device AND p.metric = b.metric AND p.ts = b.ts)
                GROUP BY device, metric, ts""",
        )
        return int(inserted.fetchall()[0][0])

    def history(self, device: int, start_ms: int, end_ms: int) -> list[tuple[object, ...]]:
        return self.db.execute(
            f"""SELECT device, metric, ts - ts % {BUCKET_MS} AS b, avg(value) FROM points
                WHERE device = $d AND ts >= $s AND ts < $e GROUP BY ALL ORDER BY device, metric, b""",
            {"d": device, "s": start_ms, "e": end_ms},
        ).fetchall()

    def size(self) -> int:
        return _file_size(self.path, Path(f"{self.path}.wal"))

    def close(self) -> None:
        self.db.close()


class DuckdbSortedEngine:
    """EmbeddedTimeSeriesStore's layout and algorithms on columns: its tables, its write path (new datapoints
    past a device's high-water mark go straight in, the others are looked up first, one INSERT per batch) and
    its Compactor (finished days become runs sorted by device, metric, time; runs merge 8 to 1)."""

    name = "duckdb-sorted"

    def __init__(self, directory: Path):
        self.path = directory / f"{self.name}.duckdb"
        self.db = connect(str(self.path), "2GB")
        self.compactor = Compactor.load(self.db)
        self.high_water = np.full(2_000_000, np.iinfo(np.int64).min, dtype=np.int64)

    def load_day(self, day: Columns) -> None:
        for start in range(0, len(day), 250_000):
            part = slice(start, start + 250_000)
            self.write(Columns(day.device[part], day.metric[part], day.ts[part], day.value[part]))
        day_end = int(day.ts.max()) // DAY_MS * DAY_MS + DAY_MS
        while self.compactor.step(day_end + 3_600_000):  # as the running store does once the day is over
            pass

    def end_of_load(self) -> None:
        self.db.execute("CHECKPOINT")

    def write(self, batch: Columns) -> int:
        keep = _first_occurrences(batch)
        batch = Columns(batch.device[keep] + 1, batch.metric[keep] + 1, batch.ts[keep], batch.value[keep])
        checked = batch.ts <= self.high_water[batch.device]
        if checked.any():
            candidates = _keyed(batch, np.flatnonzero(checked))  # noqa: F841 - read by name, as above
            found = self.db.execute(_seen(batch, checked)).fetchnumpy()
            checked[checked] = False
            checked[found["row"]] = True  # now: already stored
        fresh = ~checked
        kept = _keyed(batch, np.flatnonzero(fresh), anomaly=True)  # noqa: F841
        self.db.execute("INSERT INTO ts_recent SELECT * FROM kept")
        np.maximum.at(self.high_water, batch.device[fresh], batch.ts[fresh])
        return int(fresh.sum())

    def history(self, device: int, start_ms: int, end_ms: int) -> list[tuple[object, ...]]:
        where = f"device_key = {device + 1} AND ts >= {start_ms} AND ts < {end_ms}"
        points = " UNION ALL ".join(f"SELECT metric_key, ts, value FROM {t} WHERE {where}" for t in TABLES)
        columns = self.db.execute(
            f"SELECT metric_key, ts - ((ts % {BUCKET_MS}) + {BUCKET_MS}) % {BUCKET_MS} AS b, avg(value) AS v "
            f"FROM ({points}) GROUP BY ALL ORDER BY metric_key, b"
        ).fetchnumpy()
        return list(zip(columns["metric_key"].tolist(), columns["b"].tolist(), columns["v"].tolist(), strict=True))

    def size(self) -> int:
        return _file_size(self.path, Path(f"{self.path}.wal"))

    def close(self) -> None:
        self.db.close()


def _keyed(batch: Columns, rows: np.ndarray, anomaly: bool = False) -> pa.Table:
    if anomaly:
        return pa.table(
            {
                "device_key": batch.device[rows],
                "metric_key": batch.metric[rows],
                "ts": batch.ts[rows],
                "value": batch.value[rows],
                "anomaly": np.zeros(len(rows), dtype=np.bool_),
            }
        )
    return pa.table(
        {"device_key": batch.device[rows], "metric_key": batch.metric[rows], "ts": batch.ts[rows], "row": rows}
    )


def _seen(batch: Columns, checked: np.ndarray) -> str:
    ts, device = batch.ts[checked], batch.device[checked]
    bounds = (
        f"ts BETWEEN {int(ts.min())} AND {int(ts.max())} "
        f"AND device_key BETWEEN {int(device.min())} AND {int(device.max())}"
    )
    stored = " UNION ALL ".join(f"SELECT device_key, metric_key, ts FROM {t} WHERE {bounds}" for t in TABLES)
    return f"SELECT row FROM candidates SEMI JOIN ({stored}) USING (device_key, metric_key, ts)"


def _first_occurrences(cols: Columns) -> np.ndarray:
    """Indices of the first occurrence of each (device, metric, ts), in their original order."""
    order = np.lexsort((cols.ts, cols.metric, cols.device))
    d, m, t = cols.device[order], cols.metric[order], cols.ts[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (d[1:] != d[:-1]) | (m[1:] != m[:-1]) | (t[1:] != t[:-1])
    return np.sort(order[first])


def _arrow(cols: Columns, checked: np.ndarray | None = None) -> pa.Table:
    columns = {"device": cols.device, "metric": cols.metric, "ts": cols.ts, "value": cols.value}
    if checked is not None:
        columns["checked"] = checked
    return pa.table(columns)


ENGINES = {
    "sqlite": SqliteEngine,
    "sqlite-rollup": SqliteRollupEngine,
    "duckdb": DuckdbEngine,
    "duckdb-sorted": DuckdbSortedEngine,
}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(engine: Engine, devices: int, days: int, today_start_ms: int) -> dict[str, float]:
    started = time.perf_counter()
    loaded = 0
    for day in history_days(devices, days, today_start_ms):
        engine.load_day(day)
        loaded += len(day)
    engine.end_of_load()
    load_seconds = time.perf_counter() - started

    start_ms, end_ms = today_start_ms - (days - 1) * DAY_MS, today_start_ms + DAY_MS
    rng = np.random.default_rng(3)
    latencies = []
    for device in rng.integers(0, devices, 200).tolist():
        began = time.perf_counter()
        rows = engine.history(int(device), start_ms, end_ms)
        latencies.append(time.perf_counter() - began)
    assert len(rows) == days * 96 * METRICS, f"{engine.name}: {len(rows)} buckets"

    batches = ingest_batches(today_start_ms + DAY_MS - 3_600_000)
    began = time.perf_counter()
    stored = sum(engine.write(batch) for batch in batches)
    ingest_seconds = time.perf_counter() - began
    return {
        "load_dps": loaded / load_seconds,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "readings_s": INGEST_BATCHES * BATCH_READINGS / ingest_seconds,
        "new_dps": stored / ingest_seconds,
        "stored": stored,
        "size_mb": engine.size() / 1e6,
    }


def port_batches(start_ms: int) -> list[list[Reading]]:
    """The ingest batches as the pipeline hands them over: Reading objects with four named metrics."""
    names = ("temperature", "humidity", "co2", "battery")
    calls = []
    for batch in ingest_batches(start_ms):
        device, ts, value = batch.device[::METRICS].tolist(), batch.ts[::METRICS].tolist(), batch.value.tolist()
        calls.append(
            [
                Reading(
                    f"dev-{d}",
                    "org-bench",
                    "temperature-sensor-v2",
                    t,
                    dict(zip(names, value[i * 4 : i * 4 + 4], strict=True)),
                )
                for i, (d, t) in enumerate(zip(device, ts, strict=True))
            ]
        )
    return calls


async def measure_port(directory: Path, today_start_ms: int, writers: int) -> tuple[float, int]:
    """EmbeddedTimeSeriesStore.write itself, `writers` callers at a time (the store group-commits them)."""
    store = await EmbeddedTimeSeriesStore.open(directory / f"port-{writers}", compaction_interval=3600)
    try:
        calls = port_batches(today_start_ms + DAY_MS - 3_600_000)
        pending = iter(calls)

        async def caller() -> int:
            return sum([await store.write(call) for call in pending])

        began = time.perf_counter()
        stored = sum(await asyncio.gather(*(caller() for _ in range(writers))))
        return len(calls) * BATCH_READINGS / (time.perf_counter() - began), stored
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--only", default=",".join(ENGINES), help="comma-separated candidates")
    args = parser.parse_args()
    today_start_ms = int(time.time() * 1000) // DAY_MS * DAY_MS
    points = args.devices * args.days * 1440 * METRICS
    print(f"{args.devices} devices × {args.days} days × 1-minute × {METRICS} metrics = {points:,} datapoints")
    print(
        f"{'candidate':14} {'load dp/s':>11} {'hist p50':>9} {'hist p99':>9} {'ingest rd/s':>12} "
        f"{'new dp/s':>10} {'stored':>8} {'file MB':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="tsdb-bench-") as tmp:
        for name in args.only.split(","):
            engine: Engine = ENGINES[name](Path(tmp))
            try:
                r = measure(engine, args.devices, args.days, today_start_ms)
            finally:
                engine.close()
            print(
                f"{name:14} {r['load_dps']:11,.0f} {r['p50_ms']:7.1f}ms {r['p99_ms']:7.1f}ms {r['readings_s']:12,.0f} "
                f"{r['new_dps']:10,.0f} {r['stored']:8,.0f} {r['size_mb']:8.0f}",
                flush=True,
            )
            for leftover in Path(tmp).iterdir():
                shutil.rmtree(leftover) if leftover.is_dir() else os.remove(leftover)
        for writers in (1, 4):
            rate, stored = asyncio.run(measure_port(Path(tmp), today_start_ms, writers))
            print(
                f"EmbeddedTimeSeriesStore.write, {writers} caller(s) at a time: {rate:,.0f} readings/s "
                f"({stored:,} new datapoints; same batches, on an empty store)"
            )
    print(
        f"(ingest: {INGEST_BATCHES} batches of {BATCH_READINGS} readings from {INGEST_DEVICES:,} devices, "
        "10 % re-sent, 3 % out of order, one durable transaction each; history: 15m average over the whole range "
        "for one device, 4 metrics; python",
        sys.version.split()[0],
        f"duckdb {duckdb.__version__}, sqlite {sqlite3.sqlite_version})",
    )


if __name__ == "__main__":
    main()
