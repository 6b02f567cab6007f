"""The embedded FirmwareStore: data_dir/firmware.db (services/runtime/sqlite.py: WAL, short transactions).

The rollout's adapters open the same file for their own tables, so every write here is one statement or one
short IMMEDIATE transaction.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from services.firmware.adapters.catalog_rows import (
    COLUMN_COUNT,
    COLUMNS,
    MUTABLE,
    TABLE,
    firmware_from_row,
    firmware_row,
    firmware_where,
    mutable_values,
    tables_sql,
    to_ms,
)
from services.firmware.domain.catalog.firmware import Firmware, FirmwareStatus
from services.firmware.domain.catalog.listing import FirmwareFilter
from services.kernel.pagination import Page, PageRequest
from services.runtime.sqlite import fetch_page, immediate_transaction, open_sqlite

SCHEMA = tables_sql("INTEGER", "TEXT")


def _q(_: int) -> str:
    return "?"


def _has_device_type(placeholder: str) -> str:
    return f"EXISTS (SELECT 1 FROM json_each({TABLE}.device_types) WHERE value = {placeholder})"


class SqliteFirmwareStore:
    def __init__(self, path: Path | str):
        self._db = open_sqlite(path, SCHEMA)

    async def close(self) -> None:
        self._db.close()

    async def add_unless_version_taken(self, firmware: Firmware, now: datetime) -> bool:
        try:
            with immediate_transaction(self._db) as db:
                rows = db.execute(
                    f"SELECT {COLUMNS} FROM {TABLE} WHERE org_id = ? AND version = ?",
                    (firmware.org_id, firmware.version),
                ).fetchall()
                free = not any(firmware_from_row(row).holds_version(now) for row in rows)
                if free:
                    placeholders = ", ".join("?" * COLUMN_COUNT)
                    db.execute(f"INSERT INTO {TABLE} ({COLUMNS}) VALUES ({placeholders})", firmware_row(firmware))
        except sqlite3.IntegrityError:
            return False
        return free

    async def get(self, org_id: str, firmware_id: str) -> Firmware | None:
        row = self._db.execute(
            f"SELECT {COLUMNS} FROM {TABLE} WHERE firmware_id = ? AND org_id = ?", (firmware_id, org_id)
        ).fetchone()
        return firmware_from_row(row) if row else None

    async def find_version(self, org_id: str, version: str) -> Firmware | None:
        row = self._db.execute(
            f"SELECT {COLUMNS} FROM {TABLE} WHERE org_id = ? AND version = ? AND status = ? "
            "ORDER BY created_at_ms DESC, firmware_id DESC LIMIT 1",
            (org_id, version, FirmwareStatus.VALIDATED.value),
        ).fetchone()
        return firmware_from_row(row) if row else None

    async def find_by_object_key(self, object_key: str) -> Firmware | None:
        row = self._db.execute(f"SELECT {COLUMNS} FROM {TABLE} WHERE object_key = ?", (object_key,)).fetchone()
        return firmware_from_row(row) if row else None

    async def list(self, org_id: str, query: FirmwareFilter, page: PageRequest) -> Page[Firmware]:
        where, params = firmware_where(org_id, query, _q, _has_device_type)
        return fetch_page(
            self._db,
            page,
            firmware_from_row,
            columns=COLUMNS,
            source=f"FROM {TABLE} WHERE {where}",
            parameters=params,
            order_by="created_at_ms DESC, firmware_id DESC",
        )

    async def replace(self, firmware: Firmware, *, expected: Firmware) -> bool:
        assignments = ", ".join(f"{column} = ?" for column in MUTABLE)
        cursor = self._db.execute(
            f"UPDATE {TABLE} SET {assignments} WHERE firmware_id = ? AND status = ? AND processing_started_at_ms IS ?",
            (
                *mutable_values(firmware),
                firmware.firmware_id,
                expected.status.value,
                to_ms(expected.processing_started_at),
            ),
        )
        return cursor.rowcount == 1
