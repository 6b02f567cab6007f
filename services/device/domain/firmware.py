"""What a finished firmware job does to a device: its firmwareVersion becomes the version the job installed.

Users cannot set firmwareVersion (PUT /devices/{id} refuses it); only a device's own report of a successful
job (firmware.job_status_changed, status SUCCEEDED) moves it. The bus delivers at least once and not always in
order, so the device keeps the report time of the install it shows: a report already applied, or one older
than it, changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from services.device.domain.errors import DeviceChangedConcurrently
from services.device.domain.model import Device, DeviceChange, FieldChange
from services.device.ports import DeviceEvents, DeviceRepository
from services.kernel.clock import Clock, SystemClock
from services.kernel.ids import new_id

log = logging.getLogger("iotmon.device")

FIRMWARE_FIELD = "firmwareVersion"
# Who the change history names for installs: the firmware service reports them on the device's behalf.
FIRMWARE_ACTOR = "service:firmware"
# An install meeting a concurrent write (usually telemetry activity) is re-applied to the fresh device.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class FirmwareInstalled:
    """A device reported that it now runs `version`, at `reported_at` (the job report's time)."""

    organization_id: str
    device_id: str
    version: str
    reported_at: datetime


def install_firmware(device: Device, installed: FirmwareInstalled, now: datetime) -> Device | None:
    """The device running the installed version, or None when the report changes nothing: the device is
    deleted, the report is not newer than the install the device shows, or it names the version already
    there (then only the install time would move, which nobody reads)."""
    if device.is_deleted or not installed.version:
        return None
    applied = device.firmware_installed_at
    if applied is not None and installed.reported_at <= applied:
        return None
    if device.firmware_version == installed.version:
        return replace(device, firmware_installed_at=installed.reported_at)
    return replace(
        device, firmware_version=installed.version, firmware_installed_at=installed.reported_at, updated_at=now
    )


class FirmwareInstalls:
    """The use case behind the firmware job consumer (adapters/firmware_consumer.py)."""

    def __init__(self, repository: DeviceRepository, events: DeviceEvents, clock: Clock | None = None):
        self._repository = repository
        self._events = events
        self._clock = clock or SystemClock()

    async def record_firmware_installed(self, installed: FirmwareInstalled) -> Device | None:
        """Apply the install; the device as saved, or None when nothing changed (see install_firmware).

        An unknown device (deleted for good, or of another organization) is logged and ignored: the event
        cannot become valid by being delivered again.
        """
        for attempt in range(MAX_ATTEMPTS):
            try:
                return await self._apply(installed)
            except DeviceChangedConcurrently:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
        return None  # unreachable: the last attempt returns or raises

    async def _apply(self, installed: FirmwareInstalled) -> Device | None:
        current = await self._repository.get(installed.organization_id, installed.device_id)
        if current is None:
            log.info(
                "firmware installed on an unknown device; ignored",
                extra={"deviceId": installed.device_id, "organizationId": installed.organization_id},
            )
            return None
        updated = install_firmware(current, installed, self._clock.now())
        if updated is None:
            return None
        if updated.firmware_version == current.firmware_version:
            await self._repository.save(updated, previous=current)  # only the install time moved
            return updated
        change = DeviceChange(
            change_id=new_id("chg"),
            device_id=current.device_id,
            organization_id=current.organization_id,
            changed_at=updated.updated_at,
            changed_by=FIRMWARE_ACTOR,
            changes=(FieldChange(FIRMWARE_FIELD, current.firmware_version, updated.firmware_version),),
        )
        await self._repository.save(updated, previous=current, change=change)
        await self._events.updated(updated, change)
        return updated
