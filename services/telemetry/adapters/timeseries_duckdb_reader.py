"""The embedded store's queries: DuckdbReader answers them on its own cursor, synchronously.

The tables and the write path live in timeseries_duckdb.py; see it for the layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs

from services.telemetry.adapters.archive_table import day_table, empty_day, names
from services.telemetry.adapters.timeseries_duckdb import TABLES, DuckdbWriter
from services.telemetry.domain.archive import DayPartition
from services.telemetry.domain.series import DAY_MS, Aggregate, DailyCount, SeriesPoint, SeriesQuery

POINTS = "device_key, metric_key, ts, value, anomaly"
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
            origin, width = 0, 1  # raw: the "bucket index" below is the timestamp itself
        else:
            width = int(query.bucket_ms)
            # Buckets as indexes from the epoch-aligned start of the first one: every ts is >= origin, so integer
            # division floors exactly, and grouping on a small integer is cheaper than on the floored timestamp.
            origin = int(query.start_ms) - int(query.start_ms) % width
            selected = (
                f"SELECT device_key, metric_key, (ts - {origin}) // {width} AS ts, "
                f"{AGGREGATES[query.aggregate]} AS value FROM ({points}) GROUP BY ALL"
            )
        # Numbers only: fetching names per row into Python costs more than the query (names come per block).
        columns = self.db.execute(f"{selected} ORDER BY device_key, metric_key, ts").fetchnumpy()
        times = origin + columns["ts"] * width
        return self._points(columns["device_key"], columns["metric_key"], times, columns["value"])

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

    def daily_counts(self, organization_id: str, start_ms: int, end_ms: int) -> list[DailyCount]:
        device_keys = self.devices.find(organization_id, None)
        if not device_keys:
            return []
        where = f"device_key IN ({', '.join(map(str, device_keys))}) AND ts >= {int(start_ms)} AND ts < {int(end_ms)}"
        points = " UNION ALL ".join(f"SELECT ts FROM {t} WHERE {where}" for t in TABLES)
        rows = self.db.execute(
            f"SELECT ts // {DAY_MS} AS day, count(*) FROM ({points}) GROUP BY day ORDER BY day"
        ).fetchall()
        return [DailyCount(int(day) * DAY_MS, int(n)) for day, n in rows]

    def archivable_days(self, before_ms: int) -> list[DayPartition]:
        points = " UNION ALL ".join(f"SELECT device_key, ts FROM {t} WHERE ts < {int(before_ms)}" for t in TABLES)
        rows = self.db.execute(
            f"SELECT device_key, ts // {DAY_MS} AS day, count(*) FROM ({points}) GROUP BY ALL"
        ).fetchall()
        days: dict[tuple[int, str], int] = {}
        for device_key, day, n in rows:
            organization = self.devices.names[int(device_key)][0]
            key = (int(day) * DAY_MS, organization)
            days[key] = days.get(key, 0) + int(n)
        return [DayPartition(organization, day, n) for (day, organization), n in sorted(days.items())]

    def day_datapoints(self, organization_id: str, day_start_ms: int) -> pa.Table:
        device_keys = self.devices.find(organization_id, None)
        if not device_keys:
            return empty_day()
        where = (
            f"device_key IN ({', '.join(map(str, device_keys))}) "
            f"AND ts >= {int(day_start_ms)} AND ts < {int(day_start_ms) + DAY_MS}"
        )
        points = " UNION ALL ".join(f"SELECT {POINTS} FROM {t} WHERE {where}" for t in TABLES)
        columns = self.db.execute(f"SELECT * FROM ({points})").fetchnumpy()
        if not len(columns["ts"]):
            return empty_day()
        device_names = {key: name for key, (_, name) in self.devices.names.items()}
        return day_table(
            names(columns["device_key"], device_names),
            names(columns["metric_key"], self.metrics.names),
            columns["ts"],
            columns["value"],
            columns["anomaly"],
        )

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
