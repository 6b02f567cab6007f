"""Raw datapoints for other services, streamed (internal StreamReadings): analytics' exports (§3.5.4).

The store answers raw queries as whole lists, so an export of millions of datapoints is read in time windows
small enough to hold: each UTC day's datapoint count (daily_counts, an upper bound for any subset of the
organization's devices) cuts the day into windows of about `window_rows` datapoints, assuming they spread
evenly over the day. Each window is sorted by time, device and metric, so the stream is in that order as a
whole. Memory holds one window, whatever the export's size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from services.kernel.caller import Caller
from services.kernel.errors import PermissionDenied, Violations
from services.telemetry.domain.series import DAY_MS, DailyCount, SeriesPoint, SeriesQuery
from services.telemetry.ports import TimeSeriesStore

MAX_DEVICES = 500
MAX_RANGE_MS = 400 * DAY_MS
WINDOW_ROWS = 50_000
BATCH_ROWS = 10_000


@dataclass(frozen=True)
class ExportRequest:
    organization_id: str
    device_ids: tuple[str, ...]
    metrics: tuple[str, ...]  # empty: every metric
    start_ms: int
    end_ms: int


def export_windows(start_ms: int, end_ms: int, days: Sequence[DailyCount], window_rows: int) -> list[tuple[int, int]]:
    """Half-open windows covering the days that hold datapoints within [start_ms, end_ms), in time order."""
    windows: list[tuple[int, int]] = []
    for day in days:
        low, high = max(start_ms, day.day_start_ms), min(end_ms, day.day_start_ms + DAY_MS)
        if high <= low or day.datapoints <= 0:
            continue
        pieces = min(-(-day.datapoints // window_rows), high - low)
        step = -(-(high - low) // pieces)
        windows.extend((at, min(at + step, high)) for at in range(low, high, step))
    return windows


class StoreExports:
    def __init__(self, store: TimeSeriesStore, *, window_rows: int = WINDOW_ROWS, batch_rows: int = BATCH_ROWS):
        self._store = store
        self._window_rows = window_rows
        self._batch_rows = batch_rows

    async def stream(self, caller: Caller, request: ExportRequest) -> AsyncIterator[list[SeriesPoint]]:
        """Batches of at most `batch_rows` datapoints, ordered by time, device id and metric."""
        if not caller.is_service:
            raise PermissionDenied("only the platform's services may stream readings")
        _validate(request)
        devices = tuple(dict.fromkeys(request.device_ids))
        metrics = tuple(dict.fromkeys(request.metrics))
        days = await self._store.daily_counts(request.organization_id, request.start_ms, request.end_ms)
        for low, high in export_windows(request.start_ms, request.end_ms, days, self._window_rows):
            query = SeriesQuery(request.organization_id, devices, metrics, low, high, None)
            points = await self._store.query(query)
            points.sort(key=lambda p: (p.timestamp_ms, p.device_id, p.metric))
            for start in range(0, len(points), self._batch_rows):
                yield points[start : start + self._batch_rows]
            del points


def _validate(request: ExportRequest) -> None:
    problems = Violations()
    if not request.organization_id:
        problems.add("organizationId", "is required")
    if not request.device_ids or len(set(request.device_ids)) > MAX_DEVICES:
        problems.add("deviceIds", f"between 1 and {MAX_DEVICES} are required, got {len(request.device_ids)}")
    if request.end_ms <= request.start_ms:
        problems.add("endTime", "must be after startTime")
    elif request.end_ms - request.start_ms > MAX_RANGE_MS:
        problems.add("endTime", "the range may span at most 400 days")
    problems.raise_if_any()
