"""The embedded store's DuckDB engine: tables and the write path, all synchronous.

EmbeddedTimeSeriesStore runs a DuckdbWriter in one thread and a DuckdbReader (timeseries_duckdb_reader.py) in
another; DuckDB lets one process hold one read-write connection (cursors of it serve other threads) and gives
each statement a consistent snapshot, so readers never wait for the writer.

Layout (see timeseries_embedded.py for why): datapoints go to ts_recent in arrival order; compaction moves
them into ts_sorted as runs sorted by (device_key, metric_key, ts). Names live in two small dictionaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; only tables and arrays are used

from services.telemetry.adapters.timeseries_columns import DeviceTable, KeyTable, flatten
from services.telemetry.adapters.timeseries_seen import SeenFilter
from services.telemetry.domain.model import Reading

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

    def delete_datapoints(self, organization_id: str, archived: pa.Table) -> int:
        """Delete exactly the archived datapoints (by keys and time) from both tables, in one transaction."""
        if not archived.num_rows:
            return 0
        device_keys = self.devices.keys
        metric_keys = self.metrics.keys
        devices = archived["device_id"].to_pylist()
        metrics = archived["metric"].to_pylist()
        known = [
            i
            for i, (d, m) in enumerate(zip(devices, metrics, strict=True))
            if (organization_id, d) in device_keys and m in metric_keys
        ]
        if not known:
            return 0
        ts = archived["ts"].cast(pa.int64()).to_numpy()
        doomed = pa.table(  # noqa: F841 - DuckDB reads Arrow tables by their variable's name
            {
                "device_key": pa.array([device_keys[(organization_id, devices[i])] for i in known], pa.int32()),
                "metric_key": pa.array([metric_keys[metrics[i]] for i in known], pa.int32()),
                "ts": pa.array(ts[known], pa.int64()),
            }
        )
        bounds = f"t.ts BETWEEN {int(ts.min())} AND {int(ts.max())}"
        deleted = 0
        self.db.execute("BEGIN TRANSACTION")
        try:
            for table in TABLES:
                (count,) = self.db.execute(
                    f"DELETE FROM {table} t USING doomed d WHERE {bounds} AND t.device_key = d.device_key "
                    "AND t.metric_key = d.metric_key AND t.ts = d.ts"
                ).fetchall()[0]
                deleted += int(count)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return deleted

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
        # One INSERT from Arrow per table: executemany runs one statement per row (≈ 0.4 ms each, so a first
        # batch from 1,000 new devices cost 0.4 s of CPU).
        if self.devices.added:
            keys, organizations, devices = zip(*self.devices.added, strict=True)
            names = pa.table(  # noqa: F841 - DuckDB reads Arrow tables by their variable's name
                {
                    "device_key": pa.array(keys, pa.int32()),
                    "organization_id": pa.array(organizations, pa.string()),
                    "device_id": pa.array(devices, pa.string()),
                }
            )
            self.db.execute("INSERT INTO ts_devices SELECT device_key, organization_id, device_id FROM names")
            self.devices.added.clear()
        if self.metrics.added:
            metric_keys, metrics = zip(*self.metrics.added, strict=True)
            metric_names = pa.table(  # noqa: F841 - read by name, as above
                {"metric_key": pa.array(metric_keys, pa.int32()), "metric": pa.array(metrics, pa.string())}
            )
            self.db.execute("INSERT INTO ts_metrics SELECT metric_key, metric FROM metric_names")
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
