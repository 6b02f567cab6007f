"""The outside things the device use cases need, one Protocol each; adapters/ implements them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.device.domain.listing import DeviceQuery
from services.device.domain.model import (
    CertificateRecord,
    Device,
    DeviceChange,
    DeviceState,
    DeviceStatus,
    ProvisionedCredentials,
)
from services.kernel.pagination import Page, PageRequest


class DeviceRepository(Protocol):
    """Devices and their change history, scoped by organization.

    `add` and `save` raise DeviceAlreadyExists when another live device of the organization already
    has the serial number: the store itself guards uniqueness, so concurrent registrations cannot both win.

    Saves are optimistic: a device is written only if its stored revision is still the one `previous` was
    read at, and the stored revision then goes up by one. `save` raises DeviceChangedConcurrently otherwise.
    """

    async def add(self, device: Device) -> None: ...

    async def get(self, organization_id: str, device_id: str) -> Device | None:
        """The stored device, deleted or not; None when the organization has no such device."""
        ...

    async def get_many(self, organization_id: str, device_ids: Sequence[str]) -> list[Device]:
        """The stored devices among `device_ids` (deleted ones included), in no particular order."""
        ...

    async def get_many_across_organizations(self, device_ids: Sequence[str]) -> list[Device]:
        """The stored devices among `device_ids` in whichever organization (device ids are globally unique)."""
        ...

    async def get_states(self, device_ids: Sequence[str]) -> list[DeviceState]:
        """The state of the stored devices among `device_ids`, in any organization: the hot path of
        telemetry activity, which reads nothing else of a device."""
        ...

    async def find_silent(self, silent_since: datetime, limit: int) -> list[DeviceState]:
        """Online devices of any organization whose heartbeat_at is before `silent_since`, oldest first, at most
        `limit`. Answered from an index over online devices, not by reading every device."""
        ...

    async def find_by_serial(self, organization_id: str, serial_number: str) -> Device | None:
        """The live (not deleted) device with this serial number."""
        ...

    async def list_devices(self, organization_id: str, query: DeviceQuery) -> Page[Device]:
        """Live devices matching the filters, sorted as `listing.sort_devices` describes, one page."""
        ...

    async def save(self, device: Device, *, previous: Device, change: DeviceChange | None = None) -> None:
        """Replace a stored device (previous is the version it was derived from) and record the change."""
        ...

    async def save_states(self, updates: Sequence[tuple[DeviceState, DeviceState]]) -> set[str]:
        """Save several (state, previous) pairs in bulk, leaving the rest of each device as it is.

        Each is conditioned on its own revision; returns the ids of the devices not written because they
        changed concurrently (or are not stored). The others are written whatever happens to those.
        """
        ...

    async def list_changes(self, organization_id: str, device_id: str, page: PageRequest) -> Page[DeviceChange]:
        """A device's recorded changes, newest first."""
        ...


class DeviceRegistry(Protocol):
    """Where devices get the credentials they connect with (embedded CA or AWS IoT Core)."""

    async def provision(self, device_id: str, organization_id: str, device_type: str) -> ProvisionedCredentials: ...

    async def deactivate(self, device_id: str, certificate_id: str) -> None:
        """Stop the certificate from connecting; safe to call again for the same certificate."""
        ...

    async def describe_certificate(self, certificate_id: str) -> CertificateRecord | None: ...


class ActiveAlerts(Protocol):
    async def count_active(self, device_id: str) -> int:
        """How many alerts of the device are not resolved yet."""
        ...


class DeviceEvents(Protocol):
    """What happened to devices, told to the rest of the system (routing keys device.*)."""

    async def registered(self, device: Device, actor_user_id: str | None) -> None: ...

    async def updated(self, device: Device, change: DeviceChange) -> None: ...

    async def deleted(self, device: Device, actor_user_id: str | None) -> None: ...

    async def status_changed(
        self, device: DeviceState, previous_status: DeviceStatus, actor_user_id: str | None
    ) -> None: ...
