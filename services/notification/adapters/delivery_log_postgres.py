"""The production DeliveryLog: a PostgreSQL table (asyncpg), shared by every notification replica.

Claims and outcomes are single conditional UPDATEs, so replicas racing for one row cannot both win.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.kernel.pagination import Page, PageRequest
from services.notification.adapters.delivery_rows import (
    COLUMN_NAMES,
    COLUMNS,
    delivery_from_row,
    delivery_values,
    table_sql,
    where_clause,
)
from services.notification.domain.model import Delivery, DeliveryFilter, DeliveryOutcome
from services.runtime.postgres import fetch_page, open_pool

TABLE = "notification_deliveries"


def _schema_sql(prefix: str) -> str:
    return table_sql(TABLE, prefix=prefix, timestamp="TIMESTAMPTZ", boolean="BOOLEAN")


class PostgresDeliveryLog:
    def __init__(self, pool: asyncpg.Pool, table: str = TABLE):
        self._pool = pool
        self._table = table

    @classmethod
    async def open(cls, dsn: str, *, schema: str | None = None) -> PostgresDeliveryLog:
        """Connect and create the table when missing (in `schema` when given, e.g. one per test)."""
        pool, prefix = await open_pool(dsn, _schema_sql, schema=schema, max_size=8)
        return cls(pool, prefix + TABLE)

    async def close(self) -> None:
        await self._pool.close()

    async def insert_if_absent(self, delivery: Delivery) -> tuple[Delivery, bool]:
        placeholders = ", ".join(f"${n}" for n in range(1, len(COLUMN_NAMES) + 1))
        inserted = await self._pool.fetchrow(
            f"INSERT INTO {self._table} ({COLUMNS}) VALUES ({placeholders}) ON CONFLICT DO NOTHING RETURNING {COLUMNS}",
            *delivery_values(delivery, when=_same),
        )
        if inserted is not None:
            return _delivery(inserted), True
        # The row with the same id or the same (alert, user, channel, target): both are unique.
        row = await self._pool.fetchrow(
            f"SELECT {COLUMNS} FROM {self._table}"
            " WHERE delivery_id = $1 OR (alert_id = $2 AND user_id = $3 AND channel = $4 AND target = $5)",
            delivery.delivery_id,
            delivery.alert_id,
            delivery.user_id,
            delivery.channel.value,
            delivery.target,
        )
        assert row is not None
        return _delivery(row), False

    async def get(self, delivery_id: str) -> Delivery | None:
        row = await self._pool.fetchrow(f"SELECT {COLUMNS} FROM {self._table} WHERE delivery_id = $1", delivery_id)
        return _delivery(row) if row else None

    async def take(
        self, delivery_id: str, *, expected_token: str, token: str, owner: str, lease_until: datetime
    ) -> Delivery | None:
        row = await self._pool.fetchrow(
            f"UPDATE {self._table} SET status = 'pending', owner = $1, lease_until = $2, claim_token = $3,"
            " attempts = attempts + 1, handed_over_at = NULL"
            " WHERE delivery_id = $4 AND claim_token = $5 AND status IN ('pending', 'failed')"
            f" RETURNING {COLUMNS}",
            owner,
            lease_until,
            token,
            delivery_id,
            expected_token,
        )
        return _delivery(row) if row else None

    async def hand_over(self, delivery_id: str, *, token: str, at: datetime, content: str) -> bool:
        result = await self._pool.execute(
            f"UPDATE {self._table} SET handed_over_at = $1, content = $2"
            " WHERE delivery_id = $3 AND claim_token = $4 AND status = 'pending'",
            at,
            content,
            delivery_id,
            token,
        )
        return str(result).endswith(" 1")

    async def finish(self, delivery_id: str, *, token: str, outcome: DeliveryOutcome) -> Delivery | None:
        row = await self._pool.fetchrow(
            f"UPDATE {self._table} SET status = $1, error = $2, retryable = $3, attempts = attempts + $4,"
            " sent_at = $5, content = $6, lease_until = NULL"
            f" WHERE delivery_id = $7 AND claim_token = $8 AND status = 'pending' RETURNING {COLUMNS}",
            outcome.status.value,
            outcome.error,
            outcome.retryable,
            outcome.extra_attempts,
            outcome.sent_at,
            outcome.content,
            delivery_id,
            token,
        )
        return _delivery(row) if row else None

    async def page(self, where: DeliveryFilter, page: PageRequest) -> Page[Delivery]:
        clause, parameters = where_clause(where, lambda n: f"${n}")
        return await fetch_page(
            self._pool,
            page,
            _delivery,
            columns=COLUMNS,
            source=f"FROM {self._table} {clause}",
            parameters=parameters,
            order_by="created_at DESC, delivery_id DESC",
        )


def _same(value: datetime | None) -> datetime | None:
    return value


def _read(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _delivery(row: asyncpg.Record) -> Delivery:
    return delivery_from_row(dict(row), read_time=_read)
