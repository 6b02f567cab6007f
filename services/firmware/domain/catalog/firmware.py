"""A firmware image as the catalog knows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class FirmwareStatus(StrEnum):
    PENDING_UPLOAD = "pending_upload"
    PROCESSING = "processing"
    VALIDATED = "validated"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Firmware:
    firmware_id: str
    org_id: str
    version: str
    device_types: tuple[str, ...]
    release_notes: str
    status: FirmwareStatus
    # Where the image lives in the object store.
    object_key: str
    uploaded_by: str
    created_at: datetime
    # Filled in by the processor (§4.5): SHA-256 hex digest and size in bytes of the stored image.
    checksum: str | None = None
    size: int | None = None
    rejection_reason: str | None = None
    validated_at: datetime | None = None
    # When the upload target stops accepting the image; a pending upload past it no longer holds its version.
    upload_expires_at: datetime | None = None
    # When a processor took the image; a processor that died leaves it stale, and another one may take over.
    processing_started_at: datetime | None = None

    def supports(self, device_type: str) -> bool:
        return device_type in self.device_types

    def holds_version(self, now: datetime) -> bool:
        """Whether this record keeps its version from being uploaded again (409): not rejected, not abandoned."""
        if self.status is FirmwareStatus.REJECTED:
            return False
        if self.status is FirmwareStatus.PENDING_UPLOAD and self.upload_expires_at is not None:
            return now <= self.upload_expires_at
        return True
