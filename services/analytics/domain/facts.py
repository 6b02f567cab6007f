"""What the analytics service learns about an organization from the bus and from reconciliation.

Counted device statuses are the device service's live ones (registered, online, offline, maintenance);
"deleted" is kept as a tombstone so a late event cannot bring a deleted device back. Alerts count while they
are not resolved (triggered or acknowledged); resolution is final. Each fact carries the time it became true,
so facts arriving late or twice change nothing (idempotent and order-independent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

DEVICE_STATUSES = ("registered", "online", "offline", "maintenance")
DELETED = "deleted"
SEVERITIES = ("critical", "warning", "info")
# Data volume (docs/analytics.md): a datapoint — one metric of one reading — is stored as an 8-byte time and an
# 8-byte double value; names are dictionary-encoded keys in both time-series stores, so they are not counted.
DATAPOINT_BYTES = 16
DAY_MS = 86_400_000

Deltas = dict[str, int]


def device_counter(status: str) -> str:
    return f"device:{status}"


def alert_counter(severity: str) -> str:
    return f"alert:{severity}"


@dataclass(frozen=True)
class DeviceFact:
    organization_id: str
    device_id: str
    status: str
    at_ms: int


@dataclass(frozen=True)
class AlertFact:
    organization_id: str
    alert_id: str
    severity: str
    active: bool
    at_ms: int


@dataclass(frozen=True)
class StoredDevice:
    status: str
    at_ms: int


@dataclass(frozen=True)
class StoredAlert:
    severity: str
    active: bool


def device_deltas(stored: StoredDevice | None, fact: DeviceFact) -> Deltas | None:
    """Counter changes for a device fact; None when the fact is older than what is stored (ignore it).

    A tie in time applies the fact: two events of one millisecond are taken in the order they arrive.
    """
    if stored is not None and fact.at_ms < stored.at_ms:
        return None
    old = stored.status if stored is not None else None
    deltas: Deltas = {}
    if old == fact.status:
        return deltas
    if old in DEVICE_STATUSES:
        deltas[device_counter(old)] = -1
    if fact.status in DEVICE_STATUSES:
        deltas[device_counter(fact.status)] = 1
    return deltas


def alert_deltas(stored: StoredAlert | None, fact: AlertFact) -> Deltas | None:
    """Counter changes for an alert fact; None when nothing changes (seen before, or already resolved)."""
    if stored is None:
        counted = fact.active and fact.severity in SEVERITIES
        return {alert_counter(fact.severity): 1} if counted else {}
    if stored.active and not fact.active:
        return {alert_counter(stored.severity): -1} if stored.severity in SEVERITIES else {}
    return None


def day_of(ms: int) -> str:
    return _day_name(ms // DAY_MS)


@lru_cache(maxsize=1024)
def _day_name(day_number: int) -> str:
    # Every stored reading is counted by its day: formatting a datetime per reading cost the consumers
    # microseconds each on the ingest path, where a batch spans a day or two.
    return datetime.fromtimestamp(day_number * (DAY_MS // 1000), UTC).strftime("%Y-%m-%d")


def month_start(day: str) -> str:
    return day[:8] + "01"


def day_start_ms(day: str) -> int:
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True)
class ReadingCount:
    """One stored reading as the counters see it."""

    device_id: str
    timestamp_ms: int
    datapoints: int


@dataclass(frozen=True)
class DayReadings:
    """What one event's readings add to one UTC day, as telemetry counts them (ReadingsStored.days)."""

    day: str  # YYYY-MM-DD
    readings: int
    datapoints: int
    device_ids: frozenset[str]


def count_days(readings: Iterable[ReadingCount]) -> list[DayReadings]:
    """Readings counted per UTC day of their timestamps, as telemetry does for ReadingsStored.days: for an
    event of a publisher older than that field."""
    days: dict[str, tuple[int, int, set[str]]] = {}
    for reading in readings:
        day = day_of(reading.timestamp_ms)
        count, datapoints, devices = days.get(day, (0, 0, set()))
        devices.add(reading.device_id)
        days[day] = (count + 1, datapoints + reading.datapoints, devices)
    return [DayReadings(day, n, points, frozenset(devices)) for day, (n, points, devices) in sorted(days.items())]


def volume_of_days(days: Iterable[DayReadings]) -> dict[str, int]:
    """Bytes per UTC day, from counts telemetry already made per day."""
    volume: dict[str, int] = {}
    for counted in days:
        volume[counted.day] = volume.get(counted.day, 0) + counted.datapoints * DATAPOINT_BYTES
    return volume
