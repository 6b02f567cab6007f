"""POST /analytics/query (§3.5.2): the request's rules and the answer's shape.

Limits (docs/analytics.md): at most 50 devices and 10 metrics; a series (one device's metric) holds at most
10,000 points, i.e. buckets touched by the range; the whole answer at most 100,000 points. Each refusal is a
400 naming the field by its JSON name and giving the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.kernel.errors import NotFound, Violations

INTERVALS_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "1d": 86_400_000}
FUNCTIONS = ("avg", "min", "max", "sum", "count", "p50", "p95", "p99")
MAX_DEVICES = 50
MAX_METRICS = 10
MAX_POINTS_PER_SERIES = 10_000
MAX_POINTS = 100_000


@dataclass(frozen=True)
class QueryRequest:
    device_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    start_ms: int | None
    end_ms: int | None
    interval: str
    function: str


@dataclass(frozen=True)
class QueryPlan:
    device_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    start_ms: int
    end_ms: int
    interval: str
    bucket_ms: int
    function: str


@dataclass(frozen=True)
class SeriesData:
    device_id: str
    metric: str
    points: list[tuple[int, float]]  # (bucket start ms, value), oldest first


@dataclass(frozen=True)
class QueryResult:
    plan: QueryPlan
    series: list[SeriesData]  # one per device and metric, in the order asked; empty when no data


class DevicesNotFound(NotFound):
    """Devices that are not the caller's organization's (unknown, deleted or another's: all look the same)."""

    default_reason = "DEVICE_NOT_FOUND"

    def __init__(self, device_ids: list[str]):
        names = ", ".join(device_ids)
        super().__init__(f"Devices not found: {names}", details={"deviceIds": names})
        self.device_ids = device_ids


def buckets_touched(start_ms: int, end_ms: int, bucket_ms: int) -> int:
    """Epoch-aligned buckets [start, end) touches: the points one series can hold."""
    return (end_ms - 1) // bucket_ms - start_ms // bucket_ms + 1


def plan_query(request: QueryRequest) -> QueryPlan:
    problems = Violations()
    devices = _names(request.device_ids)
    metrics = _names(request.metrics)
    if not devices:
        problems.add("deviceIds", "at least one device id is required")
    elif len(devices) > MAX_DEVICES:
        problems.add("deviceIds", f"at most {MAX_DEVICES} devices per query, got {len(devices)}")
    if not metrics:
        problems.add("metrics", "at least one metric is required")
    elif len(metrics) > MAX_METRICS:
        problems.add("metrics", f"at most {MAX_METRICS} metrics per query, got {len(metrics)}")
    if request.start_ms is None:
        problems.add("startTime", "is required")
    if request.end_ms is None:
        problems.add("endTime", "is required")
    if request.start_ms is not None and request.end_ms is not None and request.end_ms <= request.start_ms:
        problems.add("endTime", "must be after startTime")
    interval = request.interval.strip()
    if interval not in INTERVALS_MS:
        problems.add("aggregation.interval", f"must be one of {', '.join(INTERVALS_MS)}, got {interval!r}")
    function = request.function.strip().lower()
    if function not in FUNCTIONS:
        problems.add("aggregation.function", f"must be one of {', '.join(FUNCTIONS)}, got {request.function!r}")
    problems.raise_if_any()
    assert request.start_ms is not None
    assert request.end_ms is not None
    plan = QueryPlan(devices, metrics, request.start_ms, request.end_ms, interval, INTERVALS_MS[interval], function)
    _check_size(plan, problems)
    problems.raise_if_any()
    return plan


def _check_size(plan: QueryPlan, problems: Violations) -> None:
    per_series = buckets_touched(plan.start_ms, plan.end_ms, plan.bucket_ms)
    if per_series > MAX_POINTS_PER_SERIES:
        span_days = (plan.end_ms - plan.start_ms) / 86_400_000
        coarser = next(
            (
                name
                for name, width in INTERVALS_MS.items()
                if buckets_touched(plan.start_ms, plan.end_ms, width) <= MAX_POINTS_PER_SERIES
            ),
            None,
        )
        advice = f"choose {coarser} or coarser" if coarser else "shorten the range"
        problems.add(
            "aggregation.interval",
            f"the range ({span_days:.1f} days) is too long for {plan.interval}: {per_series:,} points per series, "
            f"more than {MAX_POINTS_PER_SERIES:,}; {advice}",
        )
        return
    series = len(plan.device_ids) * len(plan.metrics)
    total = series * per_series
    if total > MAX_POINTS:
        problems.add(
            "deviceIds",
            f"{len(plan.device_ids)} devices × {len(plan.metrics)} metrics × {per_series:,} points = {total:,} "
            f"points, more than {MAX_POINTS:,}; ask for fewer devices or metrics, a coarser interval or a "
            "shorter range",
        )


def _names(given: tuple[str, ...]) -> tuple[str, ...]:
    """Names as given, trimmed, blanks and repeats left out (first occurrence kept)."""
    return tuple(dict.fromkeys(name.strip() for name in given if name.strip()))


def shape_result(plan: QueryPlan, found: list[SeriesData]) -> QueryResult:
    by_key = {(s.device_id, s.metric): s.points for s in found}
    return QueryResult(plan, [SeriesData(d, m, by_key.get((d, m), [])) for d in plan.device_ids for m in plan.metrics])
