"""GET /devices/{id}/history (spec §3.1.6): the query's rules, and the result as one row per timestamp.

Rules (docs/telemetry.md): the range defaults to the last 24 hours and must end after it starts; the
aggregation defaults to the finest that keeps the answer readable (raw up to 1 day, 15m up to 7 days, 1h up
to 90 days, 1d beyond); raw data can be asked for over at most 90 days, and no answer holds more than
10,000 points per metric — both refused with a 400 that says which aggregation to use instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.kernel.errors import Violations
from services.telemetry.domain.model import DeviceInfo
from services.telemetry.domain.schemas import DeviceType
from services.telemetry.domain.series import BUCKETS_MS, Aggregate, SeriesPoint, SeriesQuery

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DEFAULT_RANGE_MS = DAY_MS
MAX_RAW_RANGE_MS = 90 * DAY_MS
MAX_POINTS_PER_METRIC = 10_000
# (longest range, aggregation) from finest to coarsest: the default for a range is the first that fits.
DEFAULT_AGGREGATIONS = ((DAY_MS, "raw"), (7 * DAY_MS, "15m"), (90 * DAY_MS, "1h"))
COARSEST = "1d"


@dataclass(frozen=True)
class HistoryRequest:
    device_id: str
    start_ms: int | None = None
    end_ms: int | None = None
    metrics: tuple[str, ...] = ()  # as given: each may hold several names separated by commas
    aggregation: str | None = None


@dataclass(frozen=True)
class HistoryPlan:
    query: SeriesQuery
    aggregation: str
    metrics: tuple[str, ...]  # empty: every metric the device has (a device type without a schema)


@dataclass(frozen=True)
class History:
    device_id: str
    start_ms: int
    end_ms: int
    metrics: list[str]
    aggregation: str
    rows: list[tuple[int, dict[str, float]]]  # (timestamp, metric → value), oldest first


def plan_history(
    request: HistoryRequest, device: DeviceInfo, device_type: DeviceType | None, now_ms: int
) -> HistoryPlan:
    problems = Violations()
    end_ms = request.end_ms if request.end_ms is not None else now_ms
    start_ms = request.start_ms if request.start_ms is not None else end_ms - DEFAULT_RANGE_MS
    if end_ms <= start_ms:
        problems.add("endDate", "must be after startDate")
    metrics = _metrics(request.metrics, device_type, problems)
    aggregation = request.aggregation.strip() if request.aggregation else default_aggregation(end_ms - start_ms)
    if aggregation not in BUCKETS_MS:
        problems.add("aggregation", f"must be one of {', '.join(BUCKETS_MS)}, got {aggregation!r}")
    problems.raise_if_any()
    _check_size(aggregation, end_ms - start_ms, problems)
    problems.raise_if_any()
    query = SeriesQuery(
        organization_id=device.organization_id,
        device_ids=(device.device_id,),
        metrics=metrics,
        start_ms=start_ms,
        end_ms=end_ms,
        bucket_ms=BUCKETS_MS[aggregation],
        aggregate=Aggregate.AVG,
    )
    return HistoryPlan(query, aggregation, metrics)


def default_aggregation(range_ms: int) -> str:
    for longest, aggregation in DEFAULT_AGGREGATIONS:
        if range_ms <= longest:
            return aggregation
    return COARSEST


def count_query(plan: HistoryPlan) -> SeriesQuery | None:
    """For raw queries: a query counting the points per metric (the store answers it from its index), so an
    oversized answer is refused before it is read. None when the range alone bounds the size."""
    query = plan.query
    if query.bucket_ms is not None:
        return None
    # One bucket as wide as the range: buckets are aligned to the epoch, so it spans at most two.
    width = query.end_ms - query.start_ms
    return SeriesQuery(
        query.organization_id, query.device_ids, query.metrics, query.start_ms, query.end_ms, width, Aggregate.COUNT
    )


def check_point_count(counts: Iterable[SeriesPoint]) -> None:
    per_metric: dict[str, float] = {}
    for point in counts:
        per_metric[point.metric] = per_metric.get(point.metric, 0.0) + point.value
    largest = max(per_metric.values(), default=0.0)
    if largest > MAX_POINTS_PER_METRIC:
        problems = Violations()
        problems.add(
            "aggregation",
            f"raw data over this range holds {largest:.0f} points per metric, more than {MAX_POINTS_PER_METRIC:,}; "
            "choose an aggregation such as 1m, 5m or 15m",
        )
        problems.raise_if_any()


def shape_history(plan: HistoryPlan, points: Sequence[SeriesPoint]) -> History:
    """One row per timestamp holding every metric that has a value there, as §3.1.6 shows."""
    # The loop runs once per point (11,520 for a month of 15m buckets of 4 metrics): kept to the bare dict work.
    rows: dict[int, dict[str, float]] = {}
    row_at = rows.get
    for point in points:
        timestamp = point.timestamp_ms
        row = row_at(timestamp)
        if row is None:
            row = rows[timestamp] = {}
        row[point.metric] = point.value
    query = plan.query
    metrics = list(plan.metrics) if plan.metrics else sorted({point.metric for point in points})
    return History(query.device_ids[0], query.start_ms, query.end_ms, metrics, plan.aggregation, sorted(rows.items()))


def _metrics(given: Sequence[str], device_type: DeviceType | None, problems: Violations) -> tuple[str, ...]:
    names = dict.fromkeys(name.strip() for text in given for name in text.split(",") if name.strip())
    if not names:
        return tuple(device_type.metric_names) if device_type is not None else ()
    if device_type is not None:
        known = device_type.metric_names
        unknown = [name for name in names if name not in known]
        if unknown:
            problems.add("metrics", f"{device_type.name} has no metric {', '.join(unknown)}; it has {', '.join(known)}")
    return tuple(names)


def _check_size(aggregation: str, range_ms: int, problems: Violations) -> None:
    bucket_ms = BUCKETS_MS[aggregation]
    if bucket_ms is None:
        if range_ms > MAX_RAW_RANGE_MS:
            problems.add(
                "aggregation",
                f"raw data can be queried over at most 90 days; this range spans {range_ms / DAY_MS:.1f} days. "
                "Choose an aggregation such as 1h or 1d",
            )
        return
    buckets = -(-range_ms // bucket_ms)
    if buckets > MAX_POINTS_PER_METRIC:
        coarser = next((name for name, width in BUCKETS_MS.items() if width and range_ms // width <= 10_000), None)
        advice = f"choose {coarser} or coarser" if coarser else "shorten the range"
        problems.add(
            "aggregation",
            f"{aggregation} over this range gives {buckets:,} points per metric, more than "
            f"{MAX_POINTS_PER_METRIC:,}; {advice}",
        )
