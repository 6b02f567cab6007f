"""Small in-memory stand-ins for the telemetry ports that record what they were asked."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.telemetry.domain.model import DeviceActivity, DeviceInfo, Reading

NOW = datetime(2025, 11, 15, 10, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


@dataclass
class FixedClock:
    moment: datetime = NOW

    def now(self) -> datetime:
        return self.moment


@dataclass
class FakeDirectory:
    devices: dict[str, DeviceInfo] = field(default_factory=dict)
    lookups: list[set[str]] = field(default_factory=list)

    def add(
        self,
        device_id: str,
        organization_id: str = "org-1",
        device_type: str = "temperature-sensor-v2",
        *,
        deleted: bool = False,
    ) -> None:
        self.devices[device_id] = DeviceInfo(device_id, organization_id, device_type, deleted)

    async def lookup(self, device_ids: Collection[str]) -> dict[str, DeviceInfo]:
        self.lookups.append(set(device_ids))
        return {i: self.devices[i] for i in device_ids if i in self.devices}


@dataclass
class RecordingSink:
    calls: list[list[DeviceActivity]] = field(default_factory=list)

    async def record(self, activities: Sequence[DeviceActivity]) -> None:
        self.calls.append(list(activities))


@dataclass
class RecordingEvents:
    stored: list[list[Reading]] = field(default_factory=list)
    anomalies: list[tuple[str, str, float]] = field(default_factory=list)

    async def readings_stored(self, readings: Sequence[Reading]) -> None:
        self.stored.append(list(readings))

    async def anomaly_detected(self, reading: Reading, metric: str, score: float) -> None:
        self.anomalies.append((reading.device_id, metric, score))


class BrokenStore:
    """A time-series store whose disk is gone."""

    async def write(self, readings: Sequence[Reading]) -> int:
        raise OSError("disk full")

    async def query(self, query: object) -> list[object]:
        raise OSError("disk full")

    async def count(self, organization_id: str | None = None, device_id: str | None = None) -> int:
        return 0

    async def close(self) -> None:
        return None
