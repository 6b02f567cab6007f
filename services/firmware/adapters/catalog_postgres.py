"""The production FirmwareStore: PostgreSQL through asyncpg, optionally in a schema of its own.

The version check and the insert run in one transaction holding an advisory lock on (organization, version),
so two admins uploading the same version at once cannot both get an upload target.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

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
from services.runtime.postgres import fetch_page, open_pool


def _schema_sql(prefix: str) -> str:
    return tables_sql("BIGINT", "JSONB", prefix)


def _p(index: int) -> str:
    return f"${index}"


def _has_device_type(placeholder: str) -> str:
    return f"device_types ? {placeholder}"


def _firmware(record: asyncpg.Record) -> Firmware:
    # asyncpg hands JSONB back as text: the row reader parses it as it does SQLite's.
    return firmware_from_row(tuple(record))


class PostgresFirmwareStore:
    def __init__(self, pool: asyncpg.Pool, prefix: str = "", *, owns_pool: bool = True):
        self._pool = pool
        self._table = f"{prefix}{TABLE}"
        self._owns_pool = owns_pool

    @classmethod
    async def open(cls, dsn: str, *, schema: str | None = None) -> PostgresFirmwareStore:
        pool, prefix = await open_pool(dsn, _schema_sql, schema=schema)
        return cls(pool, prefix)

    async def close(self) -> None:
        if self._owns_pool:
            await self._pool.close()

    async def add_unless_version_taken(self, firmware: Firmware, now: datetime) -> bool:
        values = ", ".join("$4::jsonb" if i == 4 else f"${i}" for i in range(1, COLUMN_COUNT + 1))
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"firmware-version/{firmware.org_id}/{firmware.version}"
            )
            records = await connection.fetch(
                f"SELECT {COLUMNS} FROM {self._table} WHERE org_id = $1 AND version = $2",
                firmware.org_id,
                firmware.version,
            )
            if any(_firmware(r).holds_version(now) for r in records):
                return False
            try:
                await connection.execute(
                    f"INSERT INTO {self._table} ({COLUMNS}) VALUES ({values})", *firmware_row(firmware)
                )
            except asyncpg.UniqueViolationError:
                return False
        return True

    async def get(self, org_id: str, firmware_id: str) -> Firmware | None:
        record = await self._pool.fetchrow(
            f"SELECT {COLUMNS} FROM {self._table} WHERE firmware_id = $1 AND org_id = $2", firmware_id, org_id
        )
        return _firmware(record) if record else None

    async def find_version(self, org_id: str, version: str) -> Firmware | None:
        record = await self._pool.fetchrow(
            f"SELECT {COLUMNS} FROM {self._table} WHERE org_id = $1 AND version = $2 AND status = $3 "
            "ORDER BY created_at_ms DESC, firmware_id DESC LIMIT 1",
            org_id,
            version,
            FirmwareStatus.VALIDATED.value,
        )
        return _firmware(record) if record else None

    async def find_by_object_key(self, object_key: str) -> Firmware | None:
        record = await self._pool.fetchrow(f"SELECT {COLUMNS} FROM {self._table} WHERE object_key = $1", object_key)
        return _firmware(record) if record else None

    async def list(self, org_id: str, query: FirmwareFilter, page: PageRequest) -> Page[Firmware]:
        where, params = firmware_where(org_id, query, _p, _has_device_type)
        return await fetch_page(
            self._pool,
            page,
            _firmware,
            columns=COLUMNS,
            source=f"FROM {self._table} WHERE {where}",
            parameters=params,
            order_by="created_at_ms DESC, firmware_id DESC",
        )

    async def replace(self, firmware: Firmware, *, expected: Firmware) -> bool:
        assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(MUTABLE, 1))
        n = len(MUTABLE)
        status = await self._pool.execute(
            f"UPDATE {self._table} SET {assignments} WHERE firmware_id = ${n + 1} AND status = ${n + 2} "
            f"AND processing_started_at_ms IS NOT DISTINCT FROM ${n + 3}",
            *mutable_values(firmware),
            firmware.firmware_id,
            expected.status.value,
            to_ms(expected.processing_started_at),
        )
        return bool(status == "UPDATE 1")
