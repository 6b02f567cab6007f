"""The §3.5.2 query's rules: every refusal names the field and gives the numbers."""

from __future__ import annotations

import pytest

from services.analytics.domain.query import (
    MAX_POINTS_PER_SERIES,
    QueryRequest,
    SeriesData,
    buckets_touched,
    plan_query,
    shape_result,
)
from services.kernel.errors import ValidationFailed

DAY = 86_400_000
T0 = 1_763_078_400_000  # 2025-11-14T00:00Z


def request(**changes: object) -> QueryRequest:
    fields: dict[str, object] = {
        "device_ids": ("dev-abc123", "dev-def456"),
        "metrics": ("temperature", "humidity"),
        "start_ms": T0,
        "end_ms": T0 + DAY,
        "interval": "15m",
        "function": "avg",
    }
    fields.update(changes)
    return QueryRequest(**fields)  # type: ignore[arg-type]


def refusal(**changes: object) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as raised:
        plan_query(request(**changes))
    return {v.field: v.description for v in raised.value.violations}


def test_the_spec_example_is_accepted() -> None:
    plan = plan_query(request())
    assert (plan.bucket_ms, plan.function, plan.device_ids) == (900_000, "avg", ("dev-abc123", "dev-def456"))


def test_end_before_start() -> None:
    assert refusal(end_ms=T0 - 1) == {"endTime": "must be after startTime"}


def test_missing_times_devices_and_metrics() -> None:
    problems = refusal(start_ms=None, end_ms=None, device_ids=(), metrics=(" ",))
    assert set(problems) == {"startTime", "endTime", "deviceIds", "metrics"}


def test_unknown_function_and_interval() -> None:
    problems = refusal(function="median", interval="2m")
    assert problems["aggregation.function"].startswith("must be one of avg, min, max, sum, count, p50, p95, p99")
    assert "'median'" in problems["aggregation.function"]
    assert problems["aggregation.interval"] == "must be one of 1m, 5m, 15m, 1h, 1d, got '2m'"


def test_range_too_long_for_the_interval_says_how_many_points_and_what_to_use() -> None:
    problems = refusal(interval="1m", end_ms=T0 + 30 * DAY)
    assert problems == {
        "aggregation.interval": "the range (30.0 days) is too long for 1m: 43,200 points per series, more than "
        "10,000; choose 5m or coarser"
    }


def test_too_many_points_in_total() -> None:
    devices = tuple(f"dev-{i}" for i in range(50))
    assert plan_query(request(device_ids=devices, metrics=("a", "b"), interval="1h", end_ms=T0 + 7 * DAY))
    problems = refusal(device_ids=devices, metrics=("a", "b", "c"), interval="15m", end_ms=T0 + 7 * DAY)
    assert problems == {
        "deviceIds": "50 devices × 3 metrics × 672 points = 100,800 points, more than 100,000; ask for fewer "
        "devices or metrics, a coarser interval or a shorter range"
    }


def test_too_many_devices_and_metrics() -> None:
    problems = refusal(device_ids=tuple(f"d{i}" for i in range(51)), metrics=tuple(f"m{i}" for i in range(11)))
    assert problems == {
        "deviceIds": "at most 50 devices per query, got 51",
        "metrics": "at most 10 metrics per query, got 11",
    }


def test_points_per_series_count_epoch_aligned_buckets() -> None:
    assert buckets_touched(T0, T0 + DAY, 900_000) == 96
    assert buckets_touched(T0 + 1, T0 + DAY + 1, 900_000) == 97  # unaligned: one more partial bucket
    at_limit = T0 + MAX_POINTS_PER_SERIES * 60_000
    assert plan_query(request(interval="1m", end_ms=at_limit, device_ids=("d",), metrics=("m",)))


def test_repeats_are_dropped_and_every_device_metric_pair_gets_a_series() -> None:
    plan = plan_query(request(device_ids=("b", "a", "b"), metrics=("t",)))
    result = shape_result(plan, [SeriesData("a", "t", [(T0, 1.0)])])
    assert [(s.device_id, s.metric, s.points) for s in result.series] == [("b", "t", []), ("a", "t", [(T0, 1.0)])]
