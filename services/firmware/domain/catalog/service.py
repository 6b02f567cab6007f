"""The catalog use cases (spec §3.4.1–§3.4.3), each checking the caller's permissions first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.firmware.domain.catalog.errors import FirmwareNotFound, FirmwareVersionExists
from services.firmware.domain.catalog.firmware import Firmware, FirmwareStatus
from services.firmware.domain.catalog.listing import ListFirmware, parse_firmware_query
from services.firmware.domain.catalog.objects import UploadTarget, object_key
from services.firmware.domain.catalog.validation import UploadFirmware, validate_upload
from services.firmware.ports import FirmwareStore, ObjectStore
from services.kernel.caller import Caller, Role
from services.kernel.clock import Clock, SystemClock
from services.kernel.ids import new_id
from services.kernel.pagination import Page

# Metadata the upload form carries (x-amz-meta-*), pinned by its policy: the store keeps it with the object.
FIRMWARE_ID_METADATA = "firmware-id"
ORGANIZATION_METADATA = "organization-id"


@dataclass(frozen=True)
class UploadLimits:
    max_image_bytes: int
    # Seconds an upload target accepts the image; afterwards the pending record no longer holds its version.
    upload_expires_in: float


@dataclass(frozen=True)
class UploadTicket:
    """The §3.4.1 answer: the new record (pending_upload) and where to POST the image."""

    firmware: Firmware
    target: UploadTarget


class CatalogService:
    def __init__(self, store: FirmwareStore, objects: ObjectStore, limits: UploadLimits, clock: Clock | None = None):
        self._store = store
        self._objects = objects
        self._limits = limits
        self._clock = clock or SystemClock()

    async def request_upload(self, caller: Caller, command: UploadFirmware) -> UploadTicket:
        caller.require(Role.ADMIN, "upload firmware")
        metadata = validate_upload(command)
        now = self._clock.now()
        firmware_id = new_id("fw")
        key = object_key(firmware_id)
        target = await self._objects.presign_upload(
            key,
            max_bytes=self._limits.max_image_bytes,
            expires_in=self._limits.upload_expires_in,
            metadata={FIRMWARE_ID_METADATA: firmware_id, ORGANIZATION_METADATA: caller.organization_id},
        )
        firmware = Firmware(
            firmware_id=firmware_id,
            org_id=caller.organization_id,
            version=metadata.version,
            device_types=metadata.device_types,
            release_notes=metadata.release_notes,
            status=FirmwareStatus.PENDING_UPLOAD,
            object_key=key,
            uploaded_by=caller.user_id,
            created_at=now,
            upload_expires_at=now + timedelta(seconds=self._limits.upload_expires_in),
        )
        if not await self._store.add_unless_version_taken(firmware, now):
            raise FirmwareVersionExists(metadata.version)
        return UploadTicket(firmware, target)

    async def list_firmware(self, caller: Caller, command: ListFirmware) -> Page[Firmware]:
        query, page = parse_firmware_query(command)
        return await self._store.list(caller.organization_id, query, page)

    async def get_firmware(self, caller: Caller, firmware_id: str) -> Firmware:
        firmware = await self._store.get(caller.organization_id, firmware_id) if firmware_id else None
        if firmware is None:
            raise FirmwareNotFound(firmware_id)
        return firmware
