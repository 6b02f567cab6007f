"""The firmware table, one description for SQLite and PostgreSQL, and Firmware ↔ row conversion.

Times are milliseconds since the epoch; device types a JSON array. Tables are prefixed `firmware_`: the
rollout's tables live in the same database file (data_dir/firmware.db).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from services.firmware.domain.catalog.firmware import Firmware, FirmwareStatus
from services.firmware.domain.catalog.listing import FirmwareFilter

TABLE = "firmware_images"
COLUMNS = (
    "firmware_id, org_id, version, device_types, release_notes, status, object_key, uploaded_by, created_at_ms, "
    "checksum, size, rejection_reason, validated_at_ms, upload_expires_at_ms, processing_started_at_ms"
)
# What processing changes; the rest is fixed when the record is created.
MUTABLE = ("status", "checksum", "size", "rejection_reason", "validated_at_ms", "processing_started_at_ms")
COLUMN_COUNT = len(COLUMNS.split(", "))


def tables_sql(integer: str, json_type: str, prefix: str = "") -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {prefix}{TABLE} (
    firmware_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    version TEXT NOT NULL,
    device_types {json_type} NOT NULL,
    release_notes TEXT NOT NULL,
    status TEXT NOT NULL,
    object_key TEXT NOT NULL UNIQUE,
    uploaded_by TEXT NOT NULL,
    created_at_ms {integer} NOT NULL,
    checksum TEXT,
    size {integer},
    rejection_reason TEXT,
    validated_at_ms {integer},
    upload_expires_at_ms {integer},
    processing_started_at_ms {integer}
);
CREATE INDEX IF NOT EXISTS firmware_images_by_org ON {prefix}{TABLE} (org_id, created_at_ms, firmware_id);
CREATE INDEX IF NOT EXISTS firmware_images_by_version ON {prefix}{TABLE} (org_id, version);
"""


def to_ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def firmware_row(f: Firmware) -> tuple[Any, ...]:
    return (
        f.firmware_id,
        f.org_id,
        f.version,
        orjson.dumps(list(f.device_types)).decode(),
        f.release_notes,
        f.status.value,
        f.object_key,
        f.uploaded_by,
        to_ms(f.created_at),
        f.checksum,
        f.size,
        f.rejection_reason,
        to_ms(f.validated_at),
        to_ms(f.upload_expires_at),
        to_ms(f.processing_started_at),
    )


def mutable_values(f: Firmware) -> tuple[Any, ...]:
    return (
        f.status.value,
        f.checksum,
        f.size,
        f.rejection_reason,
        to_ms(f.validated_at),
        to_ms(f.processing_started_at),
    )


def firmware_from_row(row: Sequence[Any]) -> Firmware:
    device_types = row[3] if isinstance(row[3], list) else orjson.loads(row[3])
    created_at = from_ms(row[8])
    assert created_at is not None
    return Firmware(
        firmware_id=row[0],
        org_id=row[1],
        version=row[2],
        device_types=tuple(device_types),
        release_notes=row[4],
        status=FirmwareStatus(row[5]),
        object_key=row[6],
        uploaded_by=row[7],
        created_at=created_at,
        checksum=row[9],
        size=row[10],
        rejection_reason=row[11],
        validated_at=from_ms(row[12]),
        upload_expires_at=from_ms(row[13]),
        processing_started_at=from_ms(row[14]),
    )


def firmware_where(
    org_id: str, query: FirmwareFilter, placeholder: Callable[[int], str], has_device_type: Callable[[str], str]
) -> tuple[str, list[Any]]:
    """`WHERE` text and parameters for a list; `has_device_type(p)` is the dialect's JSON membership test."""
    clauses, params = [f"org_id = {placeholder(1)}"], [org_id]
    if query.status is not None:
        params.append(query.status.value)
        clauses.append(f"status = {placeholder(len(params))}")
    if query.device_type is not None:
        params.append(query.device_type)
        clauses.append(has_device_type(placeholder(len(params))))
    return " AND ".join(clauses), params
