"""The production DeadLetterStore: a PostgreSQL table (asyncpg), beside the time series.

The record is kept as JSONB, so operators can query dead letters in SQL; a letter added again under its id
replaces the stored one (a replay that failed anew, the same record refused twice).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import asyncpg

from services.kernel.pagination import Page, PageRequest
from services.runtime.postgres import fetch_page, open_pool
from services.telemetry.adapters.dead_letters_rows import COLUMNS, letter_from_row, letter_row, where_clause
from services.telemetry.domain.model import DeadLetter, RejectReason

TABLE = "telemetry_dead_letters"


def _schema_sql(prefix: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {prefix}{TABLE} (
    dead_letter_id TEXT PRIMARY KEY,
    organization_id TEXT,
    device_id TEXT,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    source TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    record JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_by_time ON {prefix}{TABLE} (organization_id, received_at_ms, dead_letter_id);
CREATE INDEX IF NOT EXISTS {TABLE}_all_by_time ON {prefix}{TABLE} (received_at_ms, dead_letter_id);
"""


class PostgresDeadLetterStore:
    def __init__(self, pool: asyncpg.Pool, table: str = TABLE, *, owns_pool: bool = True):
        self._pool = pool
        self._table = table
        self._owns_pool = owns_pool

    @classmethod
    async def open(cls, dsn: str, *, schema: str | None = None) -> PostgresDeadLetterStore:
        """Connect and create the table when missing (in `schema` when given, e.g. one per test run)."""
        pool, prefix = await open_pool(dsn, _schema_sql, schema=schema)
        return cls(pool, prefix + TABLE)

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS.split(", ")[1:])
        await self._pool.executemany(
            f"INSERT INTO {self._table} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) "
            f"ON CONFLICT (dead_letter_id) DO UPDATE SET {updates}",
            [letter_row(letter) for letter in letters],
        )

    async def page(
        self,
        organization_id: str | None,
        page: PageRequest,
        *,
        device_id: str | None = None,
        reason: RejectReason | None = None,
    ) -> Page[DeadLetter]:
        where, parameters = where_clause(organization_id, device_id, reason, lambda n: f"${n}")
        return await fetch_page(
            self._pool,
            page,
            letter_from_row,
            columns=COLUMNS,
            source=f"FROM {self._table} {where}",
            parameters=parameters,
            order_by="received_at_ms DESC, dead_letter_id DESC",
        )

    async def oldest(
        self,
        organization_id: str | None,
        limit: int,
        *,
        device_id: str | None = None,
        reason: RejectReason | None = None,
    ) -> list[DeadLetter]:
        where, parameters = where_clause(organization_id, device_id, reason, lambda n: f"${n}")
        rows = await self._pool.fetch(
            f"SELECT {COLUMNS} FROM {self._table} {where} "
            f"ORDER BY received_at_ms, dead_letter_id LIMIT ${len(parameters) + 1}",
            *parameters,
            limit,
        )
        return [letter_from_row(row) for row in rows]

    async def remove(self, dead_letter_ids: Collection[str]) -> None:
        if dead_letter_ids:
            await self._pool.execute(f"DELETE FROM {self._table} WHERE dead_letter_id = ANY($1)", list(dead_letter_ids))

    async def close(self) -> None:
        if self._owns_pool:
            await self._pool.close()
