"""Small hand-written stand-ins for the device service's ports (no mocking library)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.device.adapters.memory import InMemoryDeviceRepository
from services.device.domain.health import HealthPolicy
from services.device.domain.liveness import LivenessService
from services.device.domain.model import (
    CertificateRecord,
    Device,
    DeviceChange,
    DeviceState,
    DeviceStatus,
    ProvisionedCredentials,
)
from services.device.domain.service import DeviceService
from tests.unit.device.builders import NOW, make_device


class FakeRegistry:
    def __init__(self) -> None:
        self.records: dict[str, CertificateRecord] = {}

    async def provision(self, device_id: str, organization_id: str, device_type: str) -> ProvisionedCredentials:
        certificate_id = f"cert-{device_id}"
        self.records[certificate_id] = CertificateRecord(certificate_id, device_id, active=True)
        return ProvisionedCredentials(
            certificate_id=certificate_id,
            certificate_arn=f"arn:test:iot:local:0:cert/{certificate_id}",
            certificate_pem="-----BEGIN CERTIFICATE-----\n...",
            private_key="-----BEGIN RSA PRIVATE KEY-----\n...",
            endpoint="mqtt.test:8883",
        )

    async def deactivate(self, device_id: str, certificate_id: str) -> None:
        self.records[certificate_id] = CertificateRecord(certificate_id, device_id, active=False)

    async def describe_certificate(self, certificate_id: str) -> CertificateRecord | None:
        return self.records.get(certificate_id)

    def active_certificates(self) -> list[str]:
        return [r.certificate_id for r in self.records.values() if r.active]


class FixedActiveAlerts:
    def __init__(self, count: int = 0) -> None:
        self.count = count
        self.asked: list[str] = []

    async def count_active(self, device_id: str) -> int:
        self.asked.append(device_id)
        return self.count


class RecordingEvents:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, object]] = []

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.published]

    async def registered(self, device: Device, actor_user_id: str | None) -> None:
        self.published.append(("registered", device.device_id, actor_user_id))

    async def updated(self, device: Device, change: DeviceChange) -> None:
        self.published.append(("updated", device.device_id, change))

    async def deleted(self, device: Device, actor_user_id: str | None) -> None:
        self.published.append(("deleted", device.device_id, actor_user_id))

    async def status_changed(
        self, device: DeviceState, previous_status: DeviceStatus, actor_user_id: str | None
    ) -> None:
        self.published.append(("status_changed", device.device_id, (previous_status, device.status)))


class SteppingClock:
    """Each call is one second later, so consecutive changes have distinct times."""

    def __init__(self, start: datetime = NOW) -> None:
        self.current = start

    def now(self) -> datetime:
        self.current += timedelta(seconds=1)
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class ManualClock:
    """Time stands still until the test moves it on."""

    def __init__(self, start: datetime = NOW) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class ConcurrentWriterRepository(InMemoryDeviceRepository):
    """A store where someone else saves each device once, just before our first save of it lands."""

    def __init__(self, interfere: int = 1) -> None:
        super().__init__()
        self.interfere = interfere
        self.interfered: list[str] = []

    async def save(self, device: Device, *, previous: Device, change: DeviceChange | None = None) -> None:
        self._meddle(previous)
        await super().save(device, previous=previous, change=change)

    async def save_states(self, updates: Sequence[tuple[DeviceState, DeviceState]]) -> set[str]:
        for _, previous in updates:
            self._meddle(previous)
        return await super().save_states(updates)

    def _meddle(self, previous: Device | DeviceState) -> None:
        if self.interfered.count(previous.device_id) < self.interfere:
            self.interfered.append(previous.device_id)
            key = (previous.organization_id, previous.device_id)
            self._devices[key] = replace(self._devices[key], revision=self._devices[key].revision + 1)


class RaceLosingRepository(InMemoryDeviceRepository):
    """A store where a concurrent registration takes the serial number just before ours is saved."""

    async def add(self, device: Device) -> None:
        if device.serial_number is not None and device.device_id != "dev-winner":
            await super().add(make_device(device_id="dev-winner", metadata={"serialNumber": device.serial_number}))
        await super().add(device)


@dataclass
class Harness:
    repository: InMemoryDeviceRepository = field(default_factory=InMemoryDeviceRepository)
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    alerts: FixedActiveAlerts = field(default_factory=FixedActiveAlerts)
    events: RecordingEvents = field(default_factory=RecordingEvents)
    clock: SteppingClock | ManualClock = field(default_factory=SteppingClock)
    policy: HealthPolicy = field(default_factory=HealthPolicy)

    @property
    def service(self) -> DeviceService:
        return DeviceService(self.repository, self.registry, self.alerts, self.events, self.clock, self.policy)

    @property
    def liveness(self) -> LivenessService:
        return LivenessService(self.repository, self.events, self.clock, self.policy)

    async def stored(self, device_id: str, organization_id: str = "org-1") -> Device:
        device = await self.repository.get(organization_id, device_id)
        assert device is not None, f"{device_id} is not stored"
        return device
