"""The device and the values it is made of (spec §3.1): plain immutable data, changed with `replace`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

# A value as it appears in JSON; change history records old and new values in this shape.
JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None

SERIAL_NUMBER_KEY = "serialNumber"


class DeviceStatus(StrEnum):
    REGISTERED = "registered"
    ONLINE = "online"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"
    DELETED = "deleted"


# Statuses an operator may set by hand (§3.1.4 "manual override"); the others follow from the lifecycle.
MANUAL_STATUSES = frozenset({DeviceStatus.ONLINE, DeviceStatus.OFFLINE, DeviceStatus.MAINTENANCE})


class ConnectivityType(StrEnum):
    CELLULAR = "cellular"
    WIFI = "wifi"
    ETHERNET = "ethernet"
    LORA = "lora"
    NB_IOT = "nb-iot"
    SATELLITE = "satellite"


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    address: str | None = None

    def as_json(self) -> dict[str, JsonValue]:
        value: dict[str, JsonValue] = {"lat": self.lat, "lon": self.lon}
        if self.address is not None:
            value["address"] = self.address
        return value


@dataclass(frozen=True)
class Connectivity:
    type: ConnectivityType
    sim_id: str | None = None
    signal_strength: int | None = None
    ip_address: str | None = None


@dataclass(frozen=True)
class Reading:
    """The latest value of each metric a device reported, and when it was measured."""

    values: Mapping[str, float]
    timestamp: datetime


@dataclass(frozen=True)
class StatusChange:
    """The device entered `status` at `at` (the platform's clock): one entry of the log uptime is computed from."""

    at: datetime
    status: DeviceStatus


@dataclass(frozen=True)
class ReadingCounts:
    """How many readings of the device telemetry stored (accepted) and refused (rejected) during one hour."""

    hour: datetime  # the start of the hour, UTC
    accepted: int
    rejected: int


@dataclass(frozen=True)
class ActivityLog:
    """What health is computed from (docs/device-health.md), oldest entry first, pruned to the health window.

    Part of the device's state, so that one conditional write updates the state and its log together.
    """

    status_changes: tuple[StatusChange, ...] = ()
    reading_counts: tuple[ReadingCounts, ...] = ()


@dataclass(frozen=True)
class Device:
    device_id: str
    organization_id: str
    name: str
    device_type: str
    status: DeviceStatus
    created_at: datetime
    updated_at: datetime
    location: Location | None = None
    connectivity: Connectivity | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    created_by: str | None = None
    firmware_version: str | None = None
    # When the device reported the install that set firmware_version (a firmware job's report time): an
    # older report arriving late must not put back an older version (domain/firmware.py).
    firmware_installed_at: datetime | None = None
    last_seen: datetime | None = None
    last_reading: Reading | None = None
    deleted_at: datetime | None = None
    # Kept so that deleting the device can deactivate the credentials it was provisioned with.
    certificate_id: str | None = None
    certificate_arn: str | None = None
    # The last sign of life the heartbeat judges (docs/device-health.md): when the newest reading arrived, or
    # when the device was set online; platform time, unlike last_seen, which is the device's reading time.
    heartbeat_at: datetime | None = None
    activity: ActivityLog = ActivityLog()
    # Bumped by the repository on every save; a save based on an older revision is refused, so concurrent
    # writers (telemetry batches, the heartbeat sweep, users) never overwrite each other's changes.
    revision: int = field(default=0, compare=False)

    @property
    def serial_number(self) -> str | None:
        return self.metadata.get(SERIAL_NUMBER_KEY)

    @property
    def is_deleted(self) -> bool:
        return self.status is DeviceStatus.DELETED

    @property
    def state(self) -> DeviceState:
        return DeviceState(
            device_id=self.device_id,
            organization_id=self.organization_id,
            status=self.status,
            last_seen=self.last_seen,
            last_reading=self.last_reading,
            heartbeat_at=self.heartbeat_at,
            activity=self.activity,
            revision=self.revision,
        )

    def with_state(self, state: DeviceState) -> Device:
        return replace(
            self,
            status=state.status,
            last_seen=state.last_seen,
            last_reading=state.last_reading,
            heartbeat_at=state.heartbeat_at,
            activity=state.activity,
            revision=state.revision,
        )


@dataclass(frozen=True, slots=True)
class DeviceState:
    """The part of a device that telemetry and the heartbeat change, many times a minute, while users change
    the rest now and then. Stored apart from the rest, so that the hot path reads and writes only this."""

    device_id: str
    organization_id: str
    status: DeviceStatus
    last_seen: datetime | None = None
    last_reading: Reading | None = None
    heartbeat_at: datetime | None = None
    activity: ActivityLog = ActivityLog()
    revision: int = field(default=0, compare=False)

    @property
    def is_deleted(self) -> bool:
        return self.status is DeviceStatus.DELETED


@dataclass(frozen=True)
class FieldChange:
    """One field's old and new value, named by its JSON name (name, location, tags, metadata, status)."""

    field: str
    old_value: JsonValue
    new_value: JsonValue


@dataclass(frozen=True)
class DeviceChange:
    """One recorded update of a device: who changed what, and when."""

    change_id: str
    device_id: str
    organization_id: str
    changed_at: datetime
    changed_by: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class ProvisionedCredentials:
    """What a device needs to connect over MQTT with mutual TLS (§3.1.1 provisioningCredentials)."""

    certificate_id: str
    certificate_arn: str
    certificate_pem: str
    private_key: str
    endpoint: str
    # The embedded CA hands out its own certificate; with AWS IoT Core the Amazon root CA is public.
    ca_certificate_pem: str | None = None


@dataclass(frozen=True)
class CertificateRecord:
    """What a registry knows about a certificate: the device it belongs to and whether it may connect."""

    certificate_id: str
    device_id: str | None
    active: bool
