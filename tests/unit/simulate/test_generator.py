"""The reading generator: §4.1 shape, realistic shapes over time, ranges, irregularities, determinism."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict

import pytest

from iotmon.simulate.generator import Irregularities, ReadingGenerator, TelemetryRecord
from iotmon.simulate.models import RANGES, make_profile

DEVICES = [f"dev-{i:03d}" for i in range(20)]
# Monday 2025-11-17 00:00 UTC.
MONDAY = 1_763_337_600_000
MINUTE = 60_000
HOUR = 60 * MINUTE
CALM = Irregularities(out_of_order=0, duplicates=0, anomalies=0)


def one_device_over(hours: int, step_ms: int, *, seed: int = 1, start: int = MONDAY) -> list[TelemetryRecord]:
    """Readings of a single device, one every step_ms, from `start` on, without irregularities."""
    generator = ReadingGenerator(["dev-only"], seed=seed, irregularities=CALM)
    return [r for t in range(start, start + hours * HOUR, step_ms) for r in generator.take(1, t)]


def test_records_have_the_spec_shape() -> None:
    records = ReadingGenerator(DEVICES, seed=1).take(100, MONDAY)

    assert len(records) == 100
    for record in records:
        assert set(record) == {"deviceId", "timestamp", "data"}
        assert isinstance(record["timestamp"], int)
        assert set(record["data"]) == {"temperature", "humidity", "co2", "battery"}
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in record["data"].values())
    assert {r["deviceId"] for r in records} == set(DEVICES), "devices take turns"


def test_values_stay_inside_the_valid_ranges_even_when_they_spike() -> None:
    stormy = Irregularities(out_of_order=0.05, duplicates=0.05, anomalies=0.3)
    generator = ReadingGenerator(DEVICES, seed=2, irregularities=stormy)
    records = [r for step in range(100) for r in generator.take(500, MONDAY + step * 7 * MINUTE)]

    assert generator.counts.anomalies > 10_000
    for metric, (low, high) in RANGES.items():
        values = [r["data"][metric] for r in records]
        assert low <= min(values), metric
        assert max(values) <= high, metric


def test_temperature_follows_the_day_warmest_in_the_afternoon_and_humidity_the_opposite() -> None:
    records = one_device_over(hours=24, step_ms=5 * MINUTE)
    offset_hours = make_profile(1, 0).utc_offset_minutes / 60

    def local_hour(record: TelemetryRecord) -> float:
        return ((record["timestamp"] - MONDAY) / HOUR + offset_hours) % 24

    def mean_between(metric: str, low: float, high: float) -> float:
        return statistics.mean(r["data"][metric] for r in records if low <= local_hour(r) < high)

    afternoon, night = mean_between("temperature", 13, 17), mean_between("temperature", 1, 5)
    assert afternoon > night + 2
    warmest = max(records, key=lambda r: r["data"]["temperature"])
    assert 12 <= local_hour(warmest) <= 18
    assert mean_between("humidity", 13, 17) < mean_between("humidity", 1, 5) - 3


def test_co2_rises_with_office_occupancy_on_weekdays() -> None:
    records = one_device_over(hours=7 * 24, step_ms=15 * MINUTE, seed=3)
    offset_minutes = make_profile(3, 0).utc_offset_minutes

    def co2_at(day: int, low: float, high: float) -> float:
        values = []
        for r in records:
            local = (r["timestamp"] - MONDAY) / MINUTE + offset_minutes
            if int(local // (24 * 60)) == day and low <= (local / 60) % 24 < high:
                values.append(r["data"]["co2"])
        return statistics.mean(values)

    tuesday_office, tuesday_night = co2_at(1, 10, 16), co2_at(1, 1, 5)
    saturday_midday = co2_at(5, 10, 16)
    assert tuesday_office > tuesday_night + 200
    assert tuesday_office > saturday_midday + 150
    assert 380 < tuesday_night < 480, "outdoor air when the office is empty"


def test_battery_drains_reading_by_reading() -> None:
    generator = ReadingGenerator(DEVICES[:5], seed=4)
    records = [r for step in range(100) for r in generator.take(50, MONDAY + step * MINUTE)]
    by_device: dict[str, list[TelemetryRecord]] = defaultdict(list)
    for record in records:
        by_device[record["deviceId"]].append(record)

    for device, readings in by_device.items():
        levels = [r["data"]["battery"] for r in sorted(readings, key=lambda r: r["timestamp"])]
        assert all(a >= b for a, b in itertools.pairwise(levels)), device
        assert levels[-1] < levels[0], device


def test_the_sensor_drifts_slowly_over_days() -> None:
    # Same time of day, a week apart: the difference is the profile's drift, not the daily cycle.
    profile = make_profile(5, 0)
    records = one_device_over(hours=7 * 24 + 1, step_ms=HOUR, seed=5)
    first, last = records[0]["data"]["temperature"], records[-1]["data"]["temperature"]
    expected = profile.drift_per_hour * 7 * 24
    assert abs((last - first) - expected) < 1.5


def test_duplicates_and_out_of_order_readings_come_at_the_configured_fractions() -> None:
    generator = ReadingGenerator(DEVICES, seed=6, irregularities=Irregularities(0.02, 0.01, 0.0))
    records = [r for step in range(200) for r in generator.take(500, MONDAY + step * 1000)]
    counts = generator.counts

    assert len(records) == counts.messages == 100_000
    assert counts.duplicates / counts.messages == pytest.approx(0.01, abs=0.002)
    assert counts.out_of_order / counts.readings == pytest.approx(0.02, abs=0.003)

    seen: set[tuple[str, int]] = set()
    newest: dict[str, int] = {}
    copies = late = 0
    for record in records:
        key = (record["deviceId"], record["timestamp"])
        copies += key in seen
        seen.add(key)
        late += record["timestamp"] < newest.get(record["deviceId"], 0)
        newest[record["deviceId"]] = max(newest.get(record["deviceId"], 0), record["timestamp"])
    assert copies == counts.duplicates
    assert late == counts.out_of_order
    assert len(seen) == counts.readings, "each distinct reading has its own (device, timestamp)"


def test_without_irregularities_every_device_sends_in_time_order() -> None:
    generator = ReadingGenerator(DEVICES, seed=7, irregularities=CALM)
    records = [r for _ in range(10) for r in generator.take(300, MONDAY)]  # a frozen clock, still unique

    assert len({(r["deviceId"], r["timestamp"]) for r in records}) == 3_000
    for device in DEVICES:
        stamps = [r["timestamp"] for r in records if r["deviceId"] == device]
        assert stamps == sorted(stamps)


def test_the_same_seed_gives_the_same_readings_and_another_seed_others() -> None:
    def run(seed: int) -> list[TelemetryRecord]:
        generator = ReadingGenerator(DEVICES, seed=seed)
        return [r for step in range(20) for r in generator.take(100, MONDAY + step * MINUTE)]

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_without_a_seed_one_is_drawn_and_reproduces_the_run() -> None:
    drawn = ReadingGenerator(DEVICES)
    replay = ReadingGenerator(DEVICES, seed=drawn.seed)
    assert drawn.take(200, MONDAY) == replay.take(200, MONDAY)


def test_held_back_readings_are_released_at_the_end() -> None:
    generator = ReadingGenerator(DEVICES, seed=8, irregularities=Irregularities(0.4, 0.0, 0.0))
    sent = generator.take(1_000, MONDAY)
    rest = generator.release_held()

    assert rest, "with 40 % held back some are still waiting"
    assert len(sent) + len(rest) == generator.counts.messages
    assert len({(r["deviceId"], r["timestamp"]) for r in sent + rest}) == generator.counts.readings
    assert generator.release_held() == []


@pytest.mark.parametrize("fraction", [-0.01, 0.6])
def test_irregularities_are_fractions(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        Irregularities(out_of_order=fraction)


def test_a_generator_needs_devices() -> None:
    with pytest.raises(ValueError, match="device"):
        ReadingGenerator([])
