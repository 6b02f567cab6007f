"""The embedded DeadLetterStore: a table in data_dir/telemetry-dlq.db (SQLite, WAL).

Statements run on the event loop, as in every embedded store (services/runtime/sqlite.py): dead letters are
few and each statement is an indexed lookup or a small insert. A letter added again under its id replaces
the stored one (a replay that failed anew, the same record refused twice).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from services.kernel.pagination import Page, PageRequest
from services.runtime.sqlite import fetch_page, open_sqlite
from services.telemetry.adapters.dead_letters_rows import COLUMNS, letter_from_row, letter_row, where_clause
from services.telemetry.domain.model import DeadLetter, RejectReason

SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    dead_letter_id TEXT PRIMARY KEY,
    organization_id TEXT,
    device_id TEXT,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    source TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (organization_id, received_at_ms, dead_letter_id);
CREATE INDEX IF NOT EXISTS dead_letters_all_by_time ON dead_letters (received_at_ms, dead_letter_id);
"""


class SqliteDeadLetterStore:
    def __init__(self, path: Path | str):
        self._db = open_sqlite(path, SCHEMA)

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        with self._db:  # one transaction for the batch: committed on leaving, rolled back on an error
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT OR REPLACE INTO dead_letters ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        where, parameters = where_clause(organization_id, device_id, reason, lambda _: "?")
        return fetch_page(
            self._db,
            page,
            letter_from_row,
            columns=COLUMNS,
            source=f"FROM dead_letters {where}",
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
        where, parameters = where_clause(organization_id, device_id, reason, lambda _: "?")
        rows = self._db.execute(
            f"SELECT {COLUMNS} FROM dead_letters {where} ORDER BY received_at_ms, dead_letter_id LIMIT ?",
            [*parameters, limit],
        ).fetchall()
        return [letter_from_row(row) for row in rows]

    async def remove(self, dead_letter_ids: Collection[str]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM dead_letters WHERE dead_letter_id = ?", [(i,) for i in dead_letter_ids])

    async def close(self) -> None:
        self._db.close()
