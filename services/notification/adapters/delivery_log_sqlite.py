"""The embedded DeliveryLog: one SQLite file (data_dir/notification.db).

Statements run on the event loop (services/runtime/sqlite.py says why). Each claim and outcome is one
conditional UPDATE, atomic in SQLite, so two workers on one file cannot both claim a row.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from services.kernel.pagination import Page, PageRequest
from services.notification.adapters.delivery_rows import (
    COLUMN_NAMES,
    COLUMNS,
    delivery_from_row,
    delivery_values,
    from_iso,
    iso_utc,
    table_sql,
    where_clause,
)
from services.notification.domain.model import Delivery, DeliveryFilter, DeliveryOutcome
from services.runtime.sqlite import fetch_page, open_sqlite

_SCHEMA = table_sql("deliveries", timestamp="TEXT", boolean="INTEGER")
_PLACEHOLDERS = ", ".join("?" for _ in COLUMN_NAMES)


class SqliteDeliveryLog:
    def __init__(self, path: Path | str):
        self._db = open_sqlite(path, _SCHEMA)
        self._db.row_factory = sqlite3.Row

    async def close(self) -> None:
        self._db.close()

    async def insert_if_absent(self, delivery: Delivery) -> tuple[Delivery, bool]:
        cursor = self._db.execute(
            f"INSERT INTO deliveries ({COLUMNS}) VALUES ({_PLACEHOLDERS}) ON CONFLICT DO NOTHING",
            delivery_values(delivery, when=iso_utc),
        )
        # The row with the same id or the same (alert, user, channel, target): both are unique.
        row = self._db.execute(
            f"SELECT {COLUMNS} FROM deliveries WHERE alert_id = ? AND user_id = ? AND channel = ? AND target = ?",
            (delivery.alert_id, delivery.user_id, delivery.channel.value, delivery.target),
        ).fetchone()
        stored = _delivery(row) if row else await self.get(delivery.delivery_id)
        assert stored is not None
        return stored, cursor.rowcount == 1

    async def get(self, delivery_id: str) -> Delivery | None:
        row = self._db.execute(f"SELECT {COLUMNS} FROM deliveries WHERE delivery_id = ?", (delivery_id,)).fetchone()
        return _delivery(row) if row else None

    async def take(
        self, delivery_id: str, *, expected_token: str, token: str, owner: str, lease_until: datetime
    ) -> Delivery | None:
        row = self._db.execute(
            "UPDATE deliveries SET status = 'pending', owner = ?, lease_until = ?, claim_token = ?,"
            " attempts = attempts + 1, handed_over_at = NULL"
            " WHERE delivery_id = ? AND claim_token = ? AND status IN ('pending', 'failed')"
            f" RETURNING {COLUMNS}",
            (owner, iso_utc(lease_until), token, delivery_id, expected_token),
        ).fetchone()
        return _delivery(row) if row else None

    async def hand_over(self, delivery_id: str, *, token: str, at: datetime, content: str) -> bool:
        cursor = self._db.execute(
            "UPDATE deliveries SET handed_over_at = ?, content = ?"
            " WHERE delivery_id = ? AND claim_token = ? AND status = 'pending'",
            (iso_utc(at), content, delivery_id, token),
        )
        return cursor.rowcount == 1

    async def finish(self, delivery_id: str, *, token: str, outcome: DeliveryOutcome) -> Delivery | None:
        row = self._db.execute(
            "UPDATE deliveries SET status = ?, error = ?, retryable = ?, attempts = attempts + ?, sent_at = ?,"
            " content = ?, lease_until = NULL WHERE delivery_id = ? AND claim_token = ? AND status = 'pending'"
            f" RETURNING {COLUMNS}",
            (
                outcome.status.value,
                outcome.error,
                outcome.retryable,
                outcome.extra_attempts,
                iso_utc(outcome.sent_at),
                outcome.content,
                delivery_id,
                token,
            ),
        ).fetchone()
        return _delivery(row) if row else None

    async def page(self, where: DeliveryFilter, page: PageRequest) -> Page[Delivery]:
        clause, parameters = where_clause(where, lambda _: "?")
        return fetch_page(
            self._db,
            page,
            _delivery,
            columns=COLUMNS,
            source=f"FROM deliveries {clause}",
            parameters=parameters,
            order_by="created_at DESC, delivery_id DESC",
        )


def _delivery(row: sqlite3.Row) -> Delivery:
    return delivery_from_row(dict(zip(row.keys(), row, strict=True)), read_time=from_iso)
