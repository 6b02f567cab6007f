"""Aggregates for other services (internal RPCs): analytics' query (§3.5.2) and its data-volume reconciliation.

The store computes everything (DuckDB SQL, PostgreSQL percentile_cont); this use case only checks that a
service asks and that the answer stays bounded. Which devices the organization owns was checked by the caller
(analytics asks the device service); the store never mixes organizations, so a wrong id only finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.kernel.caller import Caller
from services.kernel.errors import PermissionDenied, Violations
from services.telemetry.domain.series import Aggregate, DailyCount, SeriesPoint, SeriesQuery
from services.telemetry.ports import TimeSeriesStore

MAX_DEVICES = 500
MAX_METRICS = 100
# devices × metrics × buckets: a bound on the answer's size whatever the caller checked (16 MB messages).
MAX_POINTS = 1_000_000
MAX_DAILY_RANGE_MS = 400 * 86_400_000


@dataclass(frozen=True)
class AggregateRequest:
    organization_id: str
    device_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    start_ms: int
    end_ms: int
    bucket_ms: int
    function: str


class StoreAggregates:
    def __init__(self, store: TimeSeriesStore):
        self._store = store

    async def aggregate(self, caller: Caller, request: AggregateRequest) -> list[SeriesPoint]:
        """Bucketed aggregates ordered by device id, metric and time (series without data are absent)."""
        _require_service(caller, "aggregate series")
        query = _series_query(request)
        return await self._store.query(query)

    async def daily_counts(self, caller: Caller, organization_id: str, start_ms: int, end_ms: int) -> list[DailyCount]:
        _require_service(caller, "count datapoints")
        problems = Violations()
        if not organization_id:
            problems.add("organizationId", "is required")
        if end_ms <= start_ms:
            problems.add("endTime", "must be after startTime")
        elif end_ms - start_ms > MAX_DAILY_RANGE_MS:
            problems.add("endTime", "the range may span at most 400 days")
        problems.raise_if_any()
        return await self._store.daily_counts(organization_id, start_ms, end_ms)


def _series_query(request: AggregateRequest) -> SeriesQuery:
    problems = Violations()
    if not request.organization_id:
        problems.add("organizationId", "is required")
    if not request.device_ids or len(request.device_ids) > MAX_DEVICES:
        problems.add("deviceIds", f"between 1 and {MAX_DEVICES} are required, got {len(request.device_ids)}")
    if not request.metrics or len(request.metrics) > MAX_METRICS:
        problems.add("metrics", f"between 1 and {MAX_METRICS} are required, got {len(request.metrics)}")
    if request.end_ms <= request.start_ms:
        problems.add("endTime", "must be after startTime")
    if request.bucket_ms <= 0:
        problems.add("bucketSeconds", "must be positive")
    try:
        aggregate = Aggregate(request.function)
    except ValueError:
        problems.add("function", f"must be one of {', '.join(a.value for a in Aggregate)}, got {request.function!r}")
        aggregate = Aggregate.AVG
    problems.raise_if_any()
    buckets = -(-(request.end_ms - request.start_ms) // request.bucket_ms) + 1
    if buckets * len(request.device_ids) * len(request.metrics) > MAX_POINTS:
        problems.add("bucketSeconds", f"the answer would exceed {MAX_POINTS:,} points; use wider buckets")
        problems.raise_if_any()
    return SeriesQuery(
        organization_id=request.organization_id,
        device_ids=tuple(dict.fromkeys(request.device_ids)),
        metrics=tuple(dict.fromkeys(request.metrics)),
        start_ms=request.start_ms,
        end_ms=request.end_ms,
        bucket_ms=request.bucket_ms,
        aggregate=aggregate,
    )


def _require_service(caller: Caller, action: str) -> None:
    if not caller.is_service:
        raise PermissionDenied(f"only the platform's services may {action}")
