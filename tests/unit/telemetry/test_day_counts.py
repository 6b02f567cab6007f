"""Readings counted per UTC day, as ReadingsStored.days carries them to the counting consumers."""

from __future__ import annotations

from datetime import UTC, datetime

from services.telemetry.domain.day_counts import DayCount, count_by_day
from services.telemetry.domain.model import Reading


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def reading(device_id: str, at: str, metrics: int) -> Reading:
    values = {f"m{n}": float(n) for n in range(metrics)}
    return Reading(device_id, "org-1", "temperature-sensor-v2", ms(at), values)


def test_readings_are_counted_on_the_utc_day_of_their_timestamp_with_each_device_once() -> None:
    batch = [
        reading("dev-2", "2025-10-02T00:00:00", 1),
        reading("dev-1", "2025-09-30T23:59:59.999", 5),
        reading("dev-1", "2025-10-01T00:00:00", 5),
        reading("dev-1", "2025-10-01T13:00:00", 4),
        reading("dev-3", "2025-10-01T23:59:59", 2),
    ]
    assert count_by_day(batch) == [
        DayCount("2025-09-30", 1, 5, frozenset({"dev-1"})),
        DayCount("2025-10-01", 3, 11, frozenset({"dev-1", "dev-3"})),
        DayCount("2025-10-02", 1, 1, frozenset({"dev-2"})),
    ]


def test_no_readings_no_days() -> None:
    assert count_by_day([]) == []
