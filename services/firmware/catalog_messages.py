"""Catalog values ↔ iot.firmware.v1 messages, shared by the edges that speak the contract (servicer, bus events)."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2
from iot.firmware.v1 import firmware_pb2

from services.firmware.domain.catalog.firmware import Firmware


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def firmware_to_proto(firmware: Firmware) -> firmware_pb2.Firmware:
    """Absent values stay unset, so that JSON leaves them out (no checksum before validation)."""
    return firmware_pb2.Firmware(
        firmware_id=firmware.firmware_id,
        version=firmware.version,
        device_types=list(firmware.device_types),
        release_notes=firmware.release_notes,
        status=firmware.status.value,
        checksum=firmware.checksum,
        size=float(firmware.size) if firmware.size is not None else None,
        rejection_reason=firmware.rejection_reason,
        uploaded_by=firmware.uploaded_by,
        created_at=timestamp(firmware.created_at),
        validated_at=timestamp(firmware.validated_at) if firmware.validated_at is not None else None,
    )
