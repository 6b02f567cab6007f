"""A TimeSeriesStore in memory (IOTMON_TELEMETRY_STORE=memory, unit tests): forgets everything on restart.

Series are kept per (organization, device, metric) as timestamp → value; the first value stored for a
(device, timestamp, metric) stays, so writing a reading again changes nothing, as the port requires.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pyarrow as pa  # type: ignore[import-untyped]  # no stubs

from services.telemetry.adapters.archive_table import day_table, ts_millis
from services.telemetry.domain.archive import DayPartition
from services.telemetry.domain.model import Reading
from services.telemetry.domain.series import DAY_MS, Aggregate, DailyCount, SeriesPoint, SeriesQuery

SeriesKey = tuple[str, str, str]  # organization, device, metric


class InMemoryTimeSeriesStore:
    def __init__(self) -> None:
        self._series: dict[SeriesKey, dict[int, float]] = {}
        self.writes = 0  # calls of write(), for tests

    async def write(self, readings: Sequence[Reading]) -> int:
        self.writes += 1
        new = 0
        for reading in readings:
            for metric, value in reading.values.items():
                key = (reading.organization_id, reading.device_id, metric)
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = {}
                if reading.timestamp_ms not in series:
                    series[reading.timestamp_ms] = value
                    new += 1
        return new

    async def query(self, query: SeriesQuery) -> list[SeriesPoint]:
        points: list[SeriesPoint] = []
        for device_id in sorted(query.device_ids):
            for metric in self._metrics(query, device_id):
                series = self._series.get((query.organization_id, device_id, metric), {})
                inside = sorted((t, v) for t, v in series.items() if query.start_ms <= t < query.end_ms)
                if query.bucket_ms is None:
                    points.extend(SeriesPoint(device_id, metric, t, v) for t, v in inside)
                else:
                    points.extend(_buckets(device_id, metric, inside, query.bucket_ms, query.aggregate))
        return points

    async def count(self, organization_id: str | None = None, device_id: str | None = None) -> int:
        return sum(
            len(series)
            for (organization, device, _), series in self._series.items()
            if organization_id in (None, organization) and device_id in (None, device)
        )

    async def daily_counts(self, organization_id: str, start_ms: int, end_ms: int) -> list[DailyCount]:
        days: dict[int, int] = {}
        for (organization, _, _), series in self._series.items():
            if organization != organization_id:
                continue
            for timestamp in series:
                if start_ms <= timestamp < end_ms:
                    day = timestamp - timestamp % DAY_MS
                    days[day] = days.get(day, 0) + 1
        return [DailyCount(day, n) for day, n in sorted(days.items())]

    async def archivable_days(self, before_ms: int) -> list[DayPartition]:
        days: dict[tuple[int, str], int] = {}
        for (organization, _, _), series in self._series.items():
            for timestamp in series:
                if timestamp < before_ms:
                    key = (timestamp - timestamp % DAY_MS, organization)
                    days[key] = days.get(key, 0) + 1
        return [DayPartition(organization, day, n) for (day, organization), n in sorted(days.items())]

    async def day_datapoints(self, organization_id: str, day_start_ms: int) -> pa.Table:
        rows = [
            (device, metric, timestamp, value)
            for (organization, device, metric), series in self._series.items()
            if organization == organization_id
            for timestamp, value in series.items()
            if day_start_ms <= timestamp < day_start_ms + DAY_MS
        ]
        devices, metrics, times, values = (list(column) for column in zip(*rows, strict=True)) if rows else ([],) * 4
        return day_table(devices, metrics, times, values, [False] * len(rows))

    async def delete_datapoints(self, organization_id: str, archived: pa.Table) -> int:
        deleted = 0
        devices, metrics = archived["device_id"].to_pylist(), archived["metric"].to_pylist()
        for device, metric, timestamp in zip(devices, metrics, ts_millis(archived).tolist(), strict=True):
            series = self._series.get((organization_id, device, metric))
            if series is not None and series.pop(timestamp, None) is not None:
                deleted += 1
        return deleted

    async def close(self) -> None:
        self._series.clear()

    def _metrics(self, query: SeriesQuery, device_id: str) -> list[str]:
        if query.metrics:
            return sorted(query.metrics)
        return sorted({m for (o, d, m) in self._series if o == query.organization_id and d == device_id})


def _buckets(
    device_id: str, metric: str, inside: list[tuple[int, float]], bucket_ms: int, aggregate: Aggregate
) -> list[SeriesPoint]:
    grouped: dict[int, list[float]] = {}
    for timestamp, value in inside:
        grouped.setdefault(timestamp - timestamp % bucket_ms, []).append(value)
    combine = AGGREGATES[aggregate]
    return [SeriesPoint(device_id, metric, start, combine(values)) for start, values in sorted(grouped.items())]


def _percentile(fraction: float) -> Callable[[list[float]], float]:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""

    def compute(values: list[float]) -> float:
        ordered = sorted(values)
        position = fraction * (len(ordered) - 1)
        low, high = math.floor(position), math.ceil(position)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return compute


AGGREGATES: dict[Aggregate, Callable[[list[float]], float]] = {
    Aggregate.AVG: lambda values: sum(values) / len(values),
    Aggregate.MIN: min,
    Aggregate.MAX: max,
    Aggregate.SUM: sum,
    Aggregate.COUNT: lambda values: float(len(values)),
    Aggregate.P50: _percentile(0.5),
    Aggregate.P95: _percentile(0.95),
    Aggregate.P99: _percentile(0.99),
}
