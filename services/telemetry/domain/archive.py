"""Archival of old readings (spec §6.1), the pure part: which UTC days are due, and where each one's file goes.

A day is archived whole, once it is entirely older than the retention period: its file then never needs a
later addition. One Parquet file per organization and day, `archive/telemetry/org_<org>/day_<YYYY-MM-DD>/
readings.parquet` (the object store's keys allow `A-Z a-z 0-9 . _ -` only: no Hive-style `=`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

DAY_MS = 86_400_000
ARCHIVE_PREFIX = "archive/telemetry"
FILE_NAME = "readings.parquet"
_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True, slots=True)
class DayPartition:
    """The datapoints of one organization stored for one UTC day."""

    organization_id: str
    day_start_ms: int
    datapoints: int


def archive_cutoff_ms(now_ms: int, retention_days: float) -> int:
    """Days ending at or before this instant are archived: the start of the UTC day holding now - retention."""
    oldest_kept = now_ms - int(retention_days * DAY_MS)
    return oldest_kept - oldest_kept % DAY_MS


def day_text(day_start_ms: int) -> str:
    return datetime.fromtimestamp(day_start_ms / 1000, UTC).strftime("%Y-%m-%d")


def archive_key(organization_id: str, day_start_ms: int) -> str:
    """The object key of one organization's day; ValueError for an id the object store cannot name."""
    if not _SAFE.match(organization_id) or organization_id in (".", ".."):
        raise ValueError(f"organization id {organization_id!r} cannot be part of an object key")
    return f"{ARCHIVE_PREFIX}/org_{organization_id}/day_{day_text(day_start_ms)}/{FILE_NAME}"
