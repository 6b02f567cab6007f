"""The embedded store's DuckDB engine: tables, the write path and the queries, all synchronous.

EmbeddedTimeSeriesStore runs a DuckdbWriter in one thread and a DuckdbReader in another; DuckDB lets one
process hold one read-write connection (cursors of it serve other threads) and gives each statement a
consistent snapshot, so readers never wait for the writer.

Layout (see timeseries_embedded.py for why): datapoints go to ts_recent in arrival order; compaction moves
them into ts_sorted as runs sorted by (device_key, metric_key, ts). Names live in two small dictionaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; only tables and arrays are used

from services.telemetry.adapters.timeseries_columns import DeviceTable, KeyTable, flatten
from services.telemetry.adapters.timeseries_seen import SeenFilter
from services.telemetry.domain.model import Reading
from services.telemetry.domain.series import Aggregate, SeriesPoint, SeriesQuery

SCHEMA = """
CREATE TABLE IF NOT EXISTS ts_devices (device_key INTEGER NOT NULL, organization_id VARCHAR NOT NULL,
                                       device_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS ts_metrics (metric_key INTEGER NOT NULL, metric VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS ts_recent (device_key INTEGER NOT NULL, metric_key INTEGER NOT NULL, ts BIGINT NOT NULL,
                                      value DOUBLE NOT NULL, anomaly BOOLEAN NOT NULL);
CREATE TABLE IF NOT EXISTS ts_sorted (run INTEGER NOT NULL, level INTEGER NOT NULL, device_key INTEGER NOT NULL,
                                      metric_key INTEGER NOT NULL, ts BIGINT NOT NULL, value DOUBLE NOT NULL,
                                      anomaly BOOLEAN NOT NULL);
"""
POINT_COLUMNS = "device_key, metric_key, ts, value, anomaly"
TABLES = ("ts_recent", "ts_sorted")

AGGREGATES = {
    Aggregate.AVG: "avg(value)",
    Aggregate.MIN: "min(value)",
    Aggregate.MAX: "max(value)",
    Aggregate.SUM: "sum(value)",
    Aggregate.COUNT: "count(*)::DOUBLE",
    Aggregate.P50: "quantile_cont(value, 0.5)",
    Aggregate.P95: "quantile_cont(value, 0.95)",
    Aggregate.P99: "quantile_cont(value, 0.99)",
}


def connect(path: str, memory_limit: str) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect(path, config={"memory_limit": memory_limit})
    db.execute(SCHEMA)
    return db


class DuckdbWriter:
    """Owns the write path; used from one thread only. Also the keeper of the name dictionaries."""

    def __init__(self, db: duckdb.DuckDBPyConnection):
        self.db = db
        self.devices = DeviceTable()
        self.metrics = KeyTable()
        for key, organization, device in db.execute("SELECT * FROM ts_devices").fetchall():
            self.devices.remember(key, organization, device)
        for key, metric in db.execute("SELECT * FROM ts_metrics").fetchall():
            self.metrics.remember(key, metric)
        self.seen = SeenFilter()
        self.refresh_seen()

    def refresh_seen(self) -> None:
        """Rebuild what the write path knows of the tables (at open, and after compaction moved datapoints)."""
        newest = self.db.execute(
            "SELECT device_key, max(ts) FROM (SELECT device_key, ts FROM ts_recent UNION ALL "
            "SELECT device_key, ts FROM ts_sorted) GROUP BY device_key"
        ).fetchall()
        pairs = self.db.execute("SELECT DISTINCT device_key, ts FROM ts_recent").fetchall()
        moved_up_to = self.db.execute("SELECT max(ts) FROM ts_sorted").fetchall()[0][0]
        self.seen.reset(newest, pairs, np.iinfo(np.int64).min if moved_up_to is None else moved_up_to + 1)

    def write(self, calls: Sequence[Sequence[Reading]]) -> list[int]:
        """Store the datapoints of several write() calls at once; the number of new ones per call."""
        points = flatten(calls, self.devices.key, self.metrics.key)
        if not len(points):
            return [0] * len(calls)
        self._store_new_names()
        device = np.array(points.device, dtype=np.int32)
        ts = np.array(points.ts, dtype=np.int64)
        metric = np.array(points.metric, dtype=np.int32)
        keep = _first_occurrences(device, metric, ts)
        checked = self.seen.maybe_stored(device, ts)
        table = pa.table(
            {
                "device_key": device,
                "metric_key": metric,
                "ts": ts,
                "value": np.array(points.value, dtype=np.float64),
                "anomaly": np.array(points.anomaly, dtype=np.bool_),
            }
        )
        if checked.any():
            keep &= ~checked | self._unseen(table, checked)
        kept = table.filter(pa.array(keep))  # noqa: F841 - DuckDB reads Arrow tables by their variable's name
        self.db.execute(f"INSERT INTO ts_recent SELECT {POINT_COLUMNS} FROM kept")
        self.seen.stored(device[keep], ts[keep])
        owners = np.array(points.owner, dtype=np.int64)[keep]
        return [int(n) for n in np.bincount(owners, minlength=len(calls))]

    def _unseen(self, table: pa.Table, checked: np.ndarray) -> np.ndarray:
        """For each datapoint: True unless a checked one is stored already (in either table)."""
        rows = np.flatnonzero(checked)
        ts, device = table["ts"].to_numpy()[rows], table["device_key"].to_numpy()[rows]
        # Time and device bounds let the zone maps skip every row group the batch cannot be in.
        bounds = (
            f"ts BETWEEN {int(ts.min())} AND {int(ts.max())} "
            f"AND device_key BETWEEN {int(device.min())} AND {int(device.max())}"
        )
        stored = " UNION ALL ".join(f"SELECT device_key, metric_key, ts FROM {t} WHERE {bounds}" for t in TABLES)
        candidates = (  # noqa: F841 - read by name, as above
            table.select(["device_key", "metric_key", "ts"]).take(pa.array(rows)).append_column("row", pa.array(rows))
        )
        # execute() rather than the relation API: duckdb 2's relations bind each statement before running it.
        found = self.db.execute(
            f"SELECT row FROM candidates SEMI JOIN ({stored}) USING (device_key, metric_key, ts)"
        ).fetchnumpy()
        unseen = np.ones(len(checked), dtype=np.bool_)
        unseen[found["row"]] = False
        return unseen

    def _store_new_names(self) -> None:
        if self.devices.added:
            self.db.executemany("INSERT INTO ts_devices VALUES (?, ?, ?)", self.devices.added)
            self.devices.added.clear()
        if self.metrics.added:
            self.db.executemany("INSERT INTO ts_metrics VALUES (?, ?)", self.metrics.added)
            self.metrics.added.clear()


def _first_occurrences(device: np.ndarray, metric: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """A mask keeping the first of datapoints sharing (device, metric, ts): the first value stored stays."""
    order = np.lexsort((ts, metric, device))
    d, m, t = device[order], metric[order], ts[order]
    repeated = np.zeros(len(order), dtype=np.bool_)
    repeated[1:] = (d[1:] == d[:-1]) & (m[1:] == m[:-1]) & (t[1:] == t[:-1])
    keep = np.ones(len(order), dtype=np.bool_)
    keep[order[repeated]] = False  # lexsort is stable: the first in each run is the earliest
    return keep


class DuckdbReader:
    """Answers queries on its own cursor; key lookups read the writer's dictionaries (dict reads are atomic)."""

    def __init__(self, db: duckdb.DuckDBPyConnection, writer: DuckdbWriter):
        self.db = db
        self.devices = writer.devices
        self.metrics = writer.metrics

    def query(self, query: SeriesQuery) -> list[SeriesPoint]:
        where = self._where(query.organization_id, query.device_ids, query.metrics)
        if where is None:
            return []
        where += f" AND ts >= {int(query.start_ms)} AND ts < {int(query.end_ms)}"
        points = " UNION ALL ".join(f"SELECT device_key, metric_key, ts, value FROM {t} WHERE {where}" for t in TABLES)
        if query.bucket_ms is None:
            selected = f"SELECT device_key, metric_key, ts, value FROM ({points})"
        else:
            width = int(query.bucket_ms)
            selected = (
                f"SELECT device_key, metric_key, ts - ((ts % {width}) + {width}) % {width} AS ts, "
                f"{AGGREGATES[query.aggregate]} AS value FROM ({points}) GROUP BY ALL"
            )
        # Numbers only: fetching names per row into Python costs more than the query (names come per block).
        columns = self.db.execute(f"{selected} ORDER BY device_key, metric_key, ts").fetchnumpy()
        return self._points(columns["device_key"], columns["metric_key"], columns["ts"], columns["value"])

    def _points(self, device: np.ndarray, metric: np.ndarray, ts: np.ndarray, value: np.ndarray) -> list[SeriesPoint]:
        """SeriesPoints ordered by device id, metric name and time, from rows ordered by their keys and time."""
        if not len(ts):
            return []
        device_names, metric_names = self.devices.names, self.metrics.names
        cuts = (np.flatnonzero((device[1:] != device[:-1]) | (metric[1:] != metric[:-1])) + 1).tolist()
        blocks = [
            (device_names[int(device[start])][1], metric_names[int(metric[start])], start, end)
            for start, end in zip([0, *cuts], [*cuts, len(ts)], strict=True)
        ]
        times, values = ts.tolist(), value.tolist()
        points: list[SeriesPoint] = []
        for device_id, metric_name, start, end in sorted(blocks):
            n = end - start
            points.extend(
                map(SeriesPoint, repeat(device_id, n), repeat(metric_name, n), times[start:end], values[start:end])
            )
        return points

    def count(self, organization_id: str | None, device_id: str | None) -> int:
        if organization_id is None and device_id is None:
            where = "true"
        else:
            found = self._where(organization_id, None if device_id is None else (device_id,), ())
            if found is None:
                return 0
            where = found
        total = " + ".join(f"(SELECT count(*) FROM {t} WHERE {where})" for t in TABLES)
        return int(self.db.execute(f"SELECT {total}").fetchall()[0][0])

    def _where(
        self, organization_id: str | None, device_ids: Sequence[str] | None, metrics: Sequence[str]
    ) -> str | None:
        """A filter on the keys of the named devices and metrics (None: nothing can match); keys are our ints."""
        device_keys = self.devices.find(organization_id, device_ids)
        if not device_keys:
            return None
        where = f"device_key IN ({', '.join(map(str, device_keys))})"
        if metrics:
            metric_keys = [k for name in metrics if (k := self.metrics.keys.get(name)) is not None]
            if not metric_keys:
                return None
            where += f" AND metric_key IN ({', '.join(map(str, metric_keys))})"
        return where
