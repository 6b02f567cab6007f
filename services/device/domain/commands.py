"""What callers ask the device use cases to do, as received: not yet validated.

Values that arrive loosely typed on the wire (update tags and metadata, reading values) are `object` here,
so that validation, not the transport, decides what is acceptable and names the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.device.domain.model import Location


@dataclass(frozen=True)
class ConnectivityInput:
    type: str
    sim_id: str | None = None
    signal_strength: int | None = None
    ip_address: str | None = None


@dataclass(frozen=True)
class RegisterDevice:
    device_type: str
    name: str
    location: Location | None = None
    connectivity: ConnectivityInput | None = None
    metadata: Mapping[str, object] = field(default_factory=dict)
    tags: Sequence[object] = ()


@dataclass(frozen=True)
class UpdateDevice:
    """Absent (None) fields stay as they are; present ones replace the stored value."""

    device_id: str
    name: str | None = None
    location: Location | None = None
    tags: Sequence[object] | None = None
    metadata: Mapping[str, object] | None = None
    status: str | None = None


@dataclass(frozen=True)
class ListDevices:
    organization_id: str | None = None
    status: str | None = None
    device_type: str | None = None
    location: str | None = None
    # Each entry may itself hold several comma-separated tags.
    tags: Sequence[str] = ()
    page: int | None = None
    page_size: int | None = None
    sort_by: str | None = None
    sort_order: str | None = None


@dataclass(frozen=True)
class ActivityReport:
    """One device within a telemetry batch: its newest stored reading and how many readings were stored/refused."""

    device_id: str
    # When the newest stored reading was taken; required with values or accepted readings, absent when
    # the report only counts refused readings.
    last_seen: datetime | None
    values: Mapping[str, object] = field(default_factory=dict)
    accepted: int = 0
    rejected: int = 0
