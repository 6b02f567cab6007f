"""What a batch of stored readings adds to each UTC day: readings, datapoints and devices.

Published beside the readings (ReadingsStored.days) so that consumers which only count — usage, the
dashboard's data volume — do one pass per event instead of walking every reading again each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.telemetry.domain.model import Reading

DAY_MS = 86_400_000


@dataclass(frozen=True)
class DayCount:
    day: str  # YYYY-MM-DD, UTC
    readings: int
    datapoints: int
    device_ids: frozenset[str]


def count_by_day(readings: Iterable[Reading]) -> list[DayCount]:
    """Per UTC day of the readings' timestamps, oldest day first; datapoints are the values stored."""
    days: dict[int, tuple[list[int], set[str]]] = {}
    for reading in readings:
        number = reading.timestamp_ms // DAY_MS
        found = days.get(number)
        if found is None:
            found = days[number] = ([0, 0], set())
        counts, devices = found
        counts[0] += 1
        counts[1] += len(reading.values)
        devices.add(reading.device_id)
    return [
        DayCount(_day_name(number), counts[0], counts[1], frozenset(devices))
        for number, (counts, devices) in sorted(days.items())
    ]


def _day_name(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * (DAY_MS // 1000), UTC).strftime("%Y-%m-%d")
