"""The TimeSeriesStore contract, run against every adapter: memory, embedded (as written, and compacted after
every write) and PostgreSQL. All must give the same answers."""

from __future__ import annotations

import asyncio

import pytest

from services.telemetry.domain.model import Reading
from services.telemetry.domain.series import Aggregate, SeriesPoint, SeriesQuery
from services.telemetry.ports import TimeSeriesStore

T0 = 1_763_114_400_000  # 2025-11-14T10:00:00Z
MINUTE = 60_000
QUARTER = 15 * MINUTE
ORG, OTHER_ORG = "org-a", "org-b"


def reading(device: str = "dev-1", t: int = T0, org: str = ORG, **values: float) -> Reading:
    return Reading(device, org, "temperature-sensor-v2", t, dict(values))


def query(
    devices: tuple[str, ...] = ("dev-1",),
    metrics: tuple[str, ...] = (),
    start: int = T0 - 3_600_000,
    end: int = T0 + 3_600_000,
    bucket: int | None = None,
    aggregate: Aggregate = Aggregate.AVG,
    org: str = ORG,
) -> SeriesQuery:
    return SeriesQuery(org, devices, metrics, start, end, bucket, aggregate)


def points(rows: list[SeriesPoint]) -> list[tuple[str, str, int, float]]:
    return [(p.device_id, p.metric, p.timestamp_ms, pytest.approx(p.value)) for p in rows]  # type: ignore[misc]


async def test_write_counts_new_datapoints_and_stores_a_repeat_once(store: TimeSeriesStore) -> None:
    batch = [reading(t=T0 + i * MINUTE, temperature=20.0 + i, humidity=40.0) for i in range(10)]

    assert await store.write(batch) == 20
    assert await store.write(batch) == 0
    assert await store.count() == 20


async def test_overlapping_write_counts_only_what_is_new(store: TimeSeriesStore) -> None:
    await store.write([reading(t=T0 + i * MINUTE, temperature=float(i)) for i in range(10)])

    assert await store.write([reading(t=T0 + i * MINUTE, temperature=float(i)) for i in range(5, 15)]) == 5
    assert await store.count() == 15


async def test_a_late_datapoint_is_new_once(store: TimeSeriesStore) -> None:
    await store.write([reading(t=T0 + 10 * MINUTE, temperature=1.0)])

    assert await store.write([reading(t=T0, temperature=2.0)]) == 1
    assert await store.write([reading(t=T0, temperature=3.0), reading(t=T0 + 10 * MINUTE, temperature=4.0)]) == 0
    assert points(await store.query(query())) == [
        ("dev-1", "temperature", T0, 2.0),
        ("dev-1", "temperature", T0 + 10 * MINUTE, 1.0),
    ]


async def test_another_metric_at_the_same_time_is_added_and_first_values_stay(store: TimeSeriesStore) -> None:
    assert await store.write([reading(temperature=21.5)]) == 1
    assert await store.write([reading(co2=450.0)]) == 1
    assert await store.write([reading(temperature=99.0, co2=999.0)]) == 0

    assert points(await store.query(query())) == [("dev-1", "co2", T0, 450.0), ("dev-1", "temperature", T0, 21.5)]


async def test_within_one_write_the_first_of_two_equal_datapoints_stays(store: TimeSeriesStore) -> None:
    assert await store.write([reading(temperature=1.0), reading(temperature=2.0, humidity=3.0)]) == 2

    assert points(await store.query(query())) == [("dev-1", "humidity", T0, 3.0), ("dev-1", "temperature", T0, 1.0)]


async def test_empty_writes_store_nothing(store: TimeSeriesStore) -> None:
    assert await store.write([]) == 0
    assert await store.write([reading()]) == 0
    assert await store.count() == 0


async def test_count_by_organization_and_device(store: TimeSeriesStore) -> None:
    await store.write([reading("dev-1", T0 + i * MINUTE, temperature=1.0, humidity=2.0) for i in range(3)])
    await store.write([reading("dev-2", T0 + i * MINUTE, temperature=1.0) for i in range(3)])
    await store.write([reading("dev-3", T0 + i * MINUTE, OTHER_ORG, temperature=1.0) for i in range(2)])

    assert await store.count() == 11
    assert await store.count(ORG) == 9
    assert await store.count(OTHER_ORG) == 2
    assert await store.count(ORG, "dev-2") == 3
    assert await store.count(device_id="dev-3") == 2
    assert await store.count(OTHER_ORG, "dev-1") == 0
    assert await store.count("org-unknown") == 0


async def test_raw_points_are_ordered_by_device_metric_and_time_within_a_half_open_range(
    store: TimeSeriesStore,
) -> None:
    await store.write([reading("dev-b", T0 + 2 * MINUTE, temperature=3.0, humidity=30.0)])
    await store.write([reading("dev-a", T0 + 3 * MINUTE, temperature=7.0), reading("dev-b", T0, temperature=1.0)])
    await store.write([reading("dev-a", T0 + MINUTE, temperature=6.0), reading("dev-b", T0 + MINUTE, temperature=2.0)])
    await store.write([reading("dev-a", T0 + 4 * MINUTE, temperature=8.0)])

    found = await store.query(query(("dev-b", "dev-a"), start=T0 + MINUTE, end=T0 + 4 * MINUTE))

    assert points(found) == [
        ("dev-a", "temperature", T0 + MINUTE, 6.0),
        ("dev-a", "temperature", T0 + 3 * MINUTE, 7.0),
        ("dev-b", "humidity", T0 + 2 * MINUTE, 30.0),
        ("dev-b", "temperature", T0 + MINUTE, 2.0),
        ("dev-b", "temperature", T0 + 2 * MINUTE, 3.0),
    ]


async def test_metric_filter_names_the_metrics_and_empty_means_all(store: TimeSeriesStore) -> None:
    await store.write([reading(temperature=20.0, humidity=40.0, co2=400.0)])

    assert [p.metric for p in await store.query(query(metrics=("temperature", "co2")))] == ["co2", "temperature"]
    assert [p.metric for p in await store.query(query())] == ["co2", "humidity", "temperature"]
    assert await store.query(query(metrics=("pressure",))) == []


async def test_an_organization_sees_only_its_devices(store: TimeSeriesStore) -> None:
    await store.write([reading("dev-1", org=ORG, temperature=1.0), reading("dev-2", org=ORG, temperature=2.0)])
    await store.write([reading("dev-1", org=OTHER_ORG, temperature=9.0)])

    assert points(await store.query(query(("dev-1", "dev-2"), org=OTHER_ORG))) == [("dev-1", "temperature", T0, 9.0)]
    assert points(await store.query(query(("dev-1",)))) == [("dev-1", "temperature", T0, 1.0)]
    assert await store.query(query(("dev-404",))) == []
    assert await store.query(query(())) == []


# Bucket 09:45 holds 100; bucket 10:00 holds 1, 2, 3, 10; bucket 10:15 holds 5, 7.
SAMPLES = [(-1, 100.0), (0, 1.0), (3, 2.0), (7, 3.0), (14, 10.0), (15, 5.0), (20, 7.0)]
EXPECTED = {
    Aggregate.AVG: [100.0, 4.0, 6.0],
    Aggregate.MIN: [100.0, 1.0, 5.0],
    Aggregate.MAX: [100.0, 10.0, 7.0],
    Aggregate.SUM: [100.0, 16.0, 12.0],
    Aggregate.COUNT: [1.0, 4.0, 2.0],
    # percentile_cont: linear interpolation between the closest ranks.
    Aggregate.P50: [100.0, 2.5, 6.0],
    Aggregate.P95: [100.0, 8.95, 6.9],
    Aggregate.P99: [100.0, 9.79, 6.98],
}


@pytest.mark.parametrize("aggregate", list(Aggregate))
async def test_every_aggregate_over_epoch_aligned_buckets(store: TimeSeriesStore, aggregate: Aggregate) -> None:
    # Written newest first across two calls, so no store can lean on arrival order.
    await store.write([reading(t=T0 + m * MINUTE, temperature=v) for m, v in reversed(SAMPLES[4:])])
    await store.write([reading(t=T0 + m * MINUTE, temperature=v) for m, v in reversed(SAMPLES[:4])])

    found = await store.query(query(start=T0 - QUARTER, end=T0 + 2 * QUARTER, bucket=QUARTER, aggregate=aggregate))

    starts = [T0 - QUARTER, T0, T0 + QUARTER]
    assert points(found) == [("dev-1", "temperature", s, v) for s, v in zip(starts, EXPECTED[aggregate], strict=True)]


async def test_a_bucket_starts_on_the_epoch_grid_even_before_the_range(store: TimeSeriesStore) -> None:
    await store.write([reading(t=T0 + m * MINUTE, temperature=float(m)) for m in (5, 8, 20, 75)])

    quarter = await store.query(query(start=T0 + 7 * MINUTE, end=T0 + 2 * 3_600_000, bucket=QUARTER))
    hourly = await store.query(query(start=T0, end=T0 + 2 * 3_600_000, bucket=3_600_000))
    daily = await store.query(query(start=T0 - 86_400_000, end=T0 + 86_400_000, bucket=86_400_000))

    assert points(quarter) == [
        ("dev-1", "temperature", T0, 8.0),
        ("dev-1", "temperature", T0 + QUARTER, 20.0),
        ("dev-1", "temperature", T0 + 5 * QUARTER, 75.0),
    ]
    assert points(hourly) == [("dev-1", "temperature", T0, 11.0), ("dev-1", "temperature", T0 + 3_600_000, 75.0)]
    assert points(daily) == [("dev-1", "temperature", T0 - 10 * 3_600_000, 27.0)]  # 2025-11-14T00:00Z


async def test_aggregates_of_several_devices_and_metrics_come_in_order(store: TimeSeriesStore) -> None:
    await store.write(
        [reading(d, T0 + m * MINUTE, temperature=float(m), humidity=2.0 * m) for d in ("z", "a") for m in (1, 16)]
    )

    found = await store.query(query(("z", "a"), bucket=QUARTER, aggregate=Aggregate.MAX))

    assert [(p.device_id, p.metric, p.timestamp_ms) for p in found] == [
        (d, metric, t) for d in ("a", "z") for metric in ("humidity", "temperature") for t in (T0, T0 + QUARTER)
    ]


async def test_one_bucket_as_wide_as_the_range_counts_it(store: TimeSeriesStore) -> None:
    await store.write([reading(t=T0 + m * MINUTE, temperature=1.0, humidity=1.0) for m in range(0, 600, 7)])
    start, end = T0 + 30 * MINUTE, T0 + 500 * MINUTE

    counts = await store.query(query(start=start, end=end, bucket=end - start, aggregate=Aggregate.COUNT))

    per_metric = {metric: sum(p.value for p in counts if p.metric == metric) for metric in ("humidity", "temperature")}
    inside = len([m for m in range(0, 600, 7) if start <= T0 + m * MINUTE < end])
    assert per_metric == {"humidity": inside, "temperature": inside}
    assert len(counts) <= 4  # epoch-aligned: the range spans at most two buckets per metric


async def test_concurrent_writes_are_each_told_their_own_new_datapoints(store: TimeSeriesStore) -> None:
    calls = [
        [reading(f"dev-{i % 3}", T0 + (i + k) * MINUTE, temperature=float(k)) for k in range(50)] for i in range(12)
    ]

    results = await asyncio.gather(*(store.write(call) for call in calls))
    twins = await asyncio.gather(
        *(store.write([reading("twin", T0 + k * MINUTE, co2=1.0) for k in range(40)]) for _ in range(2))
    )

    distinct = {(r.device_id, r.timestamp_ms) for call in calls for r in call}
    assert sum(results) == len(distinct) == await store.count(device_id=None) - 40
    assert sorted(twins) == [0, 40]


async def test_a_large_write_is_stored_whole_and_aggregates_match(store: TimeSeriesStore) -> None:
    batch = [
        reading(f"dev-{d}", T0 + m * MINUTE, temperature=float(m % 30), humidity=50.0, co2=400.0, battery=float(d))
        for m in range(1_000)
        for d in range(20)
    ]

    assert await store.write(batch) == 80_000
    found = await store.query(query(("dev-7",), ("temperature", "battery"), T0, T0 + 1_000 * MINUTE, 3_600_000))

    assert len(found) == 2 * 17
    assert {p.value for p in found if p.metric == "battery"} == {7.0}
    assert [p.value for p in found if p.metric == "temperature"][:16] == [14.5] * 16
    assert await store.count(ORG, "dev-7") == 4_000
