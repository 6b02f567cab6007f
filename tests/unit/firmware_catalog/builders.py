"""Firmware records for tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from services.firmware.domain.catalog.firmware import Firmware, FirmwareStatus
from services.firmware.domain.catalog.objects import object_key

T0 = datetime(2025, 11, 15, 14, 0, tzinfo=UTC)


def a_firmware(**changes: Any) -> Firmware:
    firmware_id = changes.pop("firmware_id", "fw-1")
    base = Firmware(
        firmware_id=firmware_id,
        org_id="org-1",
        version="v2.1.0",
        device_types=("temp-sensor", "gateway"),
        release_notes="Fixes the drift",
        status=FirmwareStatus.PENDING_UPLOAD,
        object_key=object_key(firmware_id),
        uploaded_by="user-admin",
        created_at=T0,
        upload_expires_at=T0 + timedelta(minutes=15),
    )
    return replace(base, **changes)
