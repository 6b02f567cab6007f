"""The aggregates analytics asks for (§3.5.2) and the daily datapoint counts it reconciles data volume from,
run against every TimeSeriesStore adapter: memory, embedded DuckDB (as written and compacted) and PostgreSQL.

Expected values are computed independently with NumPy from the generated data (np.percentile's default
'linear' method is percentile_cont's interpolation between the closest ranks)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied, ValidationFailed
from services.telemetry.domain.aggregates import AggregateRequest, StoreAggregates
from services.telemetry.domain.model import Reading
from services.telemetry.domain.series import DAY_MS, Aggregate, DailyCount, SeriesQuery
from services.telemetry.ports import TimeSeriesStore

T0 = 1_763_078_400_000  # 2025-11-14T00:00:00Z
MINUTE = 60_000
ORG, OTHER_ORG = "org-a", "org-b"
DEVICES = ("dev-b", "dev-a", "dev-c")
METRICS = ("temperature", "humidity")

NUMPY: dict[Aggregate, Callable[[np.ndarray], float]] = {
    Aggregate.AVG: lambda v: float(np.mean(v)),
    Aggregate.MIN: lambda v: float(np.min(v)),
    Aggregate.MAX: lambda v: float(np.max(v)),
    Aggregate.SUM: lambda v: float(np.sum(v)),
    Aggregate.COUNT: lambda v: float(len(v)),
    Aggregate.P50: lambda v: float(np.percentile(v, 50)),
    Aggregate.P95: lambda v: float(np.percentile(v, 95)),
    Aggregate.P99: lambda v: float(np.percentile(v, 99)),
}


def generated(seed: int = 7) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(device, metric) → (times, values): 6 hours of irregular readings (gaps of 1–3 minutes), random values."""
    rng = np.random.default_rng(seed)
    data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for device in DEVICES:
        times = T0 + np.cumsum(rng.integers(1, 4, size=200)) * MINUTE - MINUTE
        for metric in METRICS:
            data[(device, metric)] = (times, rng.normal(20.0, 5.0, size=len(times)).round(3))
    return data


async def write_generated(store: TimeSeriesStore, data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]) -> None:
    by_reading: dict[tuple[str, int], dict[str, float]] = {}
    for (device, metric), (times, values) in data.items():
        for t, v in zip(times.tolist(), values.tolist(), strict=True):
            by_reading.setdefault((device, t), {})[metric] = v
    readings = [Reading(d, ORG, "temperature-sensor-v2", t, values) for (d, t), values in by_reading.items()]
    # Two calls in reverse order: no store may lean on arrival order.
    half = len(readings) // 2
    await store.write(readings[half:][::-1])
    await store.write(readings[:half])
    # The same device ids in another organization, with other values: never part of the answers.
    await store.write([Reading(d, OTHER_ORG, "t", T0 + MINUTE, {"temperature": 1e6}) for d in DEVICES])


def expected(
    data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]],
    devices: tuple[str, ...],
    metrics: tuple[str, ...],
    start: int,
    end: int,
    bucket: int,
    aggregate: Aggregate,
) -> list[tuple[str, str, int, float]]:
    rows: list[tuple[str, str, int, float]] = []
    for device in sorted(devices):
        for metric in sorted(metrics):
            times, values = data[(device, metric)]
            inside = (times >= start) & (times < end)
            starts = times[inside] - times[inside] % bucket
            for bucket_start in np.unique(starts).tolist():
                chosen = values[inside][starts == bucket_start]
                rows.append((device, metric, int(bucket_start), NUMPY[aggregate](chosen)))
    return rows


@pytest.mark.parametrize("aggregate", list(Aggregate))
@pytest.mark.parametrize(("bucket", "start_offset", "end_offset"), [(15 * MINUTE, 7, 301), (3_600_000, 0, 360)])
async def test_aggregates_of_several_devices_match_numpy(
    store: TimeSeriesStore, aggregate: Aggregate, bucket: int, start_offset: int, end_offset: int
) -> None:
    data = generated()
    await write_generated(store, data)
    devices, metrics = ("dev-c", "dev-a"), METRICS
    start, end = T0 + start_offset * MINUTE, T0 + end_offset * MINUTE

    found = await store.query(SeriesQuery(ORG, devices, metrics, start, end, bucket, aggregate))

    want = expected(data, devices, metrics, start, end, bucket, aggregate)
    assert [(p.device_id, p.metric, p.timestamp_ms) for p in found] == [w[:3] for w in want]
    assert [p.value for p in found] == pytest.approx([w[3] for w in want], rel=1e-9, abs=1e-9)


async def test_daily_counts_per_utc_day_of_one_organization(store: TimeSeriesStore) -> None:
    day_points = {0: 5, 1: 3, 3: 7}  # days after T0 → readings; each reading has two metrics
    readings = [
        Reading("dev-a", ORG, "t", T0 + day * DAY_MS + i * 3 * 3_600_000, {"temperature": 1.0, "humidity": 2.0})
        for day, n in day_points.items()
        for i in range(n)
    ]
    await store.write(readings)
    await store.write([Reading("dev-a", OTHER_ORG, "t", T0 + 1000, {"temperature": 1.0})])

    everything = await store.daily_counts(ORG, T0 - DAY_MS, T0 + 10 * DAY_MS)
    # Half-open and cut inside a day: day 0 loses its first reading (at T0), day 3 is left out.
    cut = await store.daily_counts(ORG, T0 + 1, T0 + 3 * DAY_MS)

    assert everything == [DailyCount(T0 + day * DAY_MS, 2 * n) for day, n in day_points.items()]
    assert cut == [DailyCount(T0, 2 * 4), DailyCount(T0 + DAY_MS, 2 * 3)]
    assert await store.daily_counts("org-unknown", T0 - DAY_MS, T0 + DAY_MS) == []


async def test_the_use_case_serves_services_only_and_bounds_the_answer(store: TimeSeriesStore) -> None:
    await write_generated(store, generated())
    aggregates = StoreAggregates(store)
    service = Caller.service("analytics")
    request = AggregateRequest(ORG, ("dev-a",), ("temperature",), T0, T0 + 3_600_000, 15 * MINUTE, "max")

    found = await aggregates.aggregate(service, request)

    assert found
    assert {p.timestamp_ms for p in found} <= {T0 + k * 15 * MINUTE for k in range(4)}
    with pytest.raises(PermissionDenied):
        await aggregates.aggregate(Caller("user-1", ORG, Role.ADMIN), request)
    with pytest.raises(ValidationFailed) as refused:
        await aggregates.aggregate(service, AggregateRequest(ORG, (), ("t",), T0, T0 - 1, 0, "median"))
    assert {v.field for v in refused.value.violations} == {"deviceIds", "endTime", "bucketSeconds", "function"}
    with pytest.raises(ValidationFailed, match="1,000,000 points"):
        await aggregates.aggregate(service, AggregateRequest(ORG, ("d",), ("t",), 0, 400 * DAY_MS, 1000, "avg"))
