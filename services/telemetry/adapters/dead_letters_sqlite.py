"""The embedded DeadLetterStore: a table in data_dir/telemetry-dlq.db (SQLite, WAL).

Statements run on the event loop, as in every embedded store (services/runtime/sqlite.py): dead letters are
few and each statement is an indexed lookup or a small insert. A letter added again under its id replaces
the stored one (a replay that failed anew, the same record refused twice).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import orjson

from services.kernel.pagination import Page, PageRequest
from services.runtime.sqlite import open_sqlite
from services.telemetry.domain.model import DeadLetter, RejectReason, Source

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
_COLUMNS = "dead_letter_id, organization_id, device_id, reason, message, source, received_at_ms, record"


class SqliteDeadLetterStore:
    def __init__(self, path: Path | str):
        self._db = open_sqlite(path, SCHEMA)

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        with self._db:  # one transaction for the batch: committed on leaving, rolled back on an error
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT OR REPLACE INTO dead_letters ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        where, parameters = _filters(organization_id, device_id, reason)
        total = self._db.execute(f"SELECT count(*) FROM dead_letters {where}", parameters).fetchone()[0]
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM dead_letters {where} "
            "ORDER BY received_at_ms DESC, dead_letter_id DESC LIMIT ? OFFSET ?",
            [*parameters, page.page_size, page.offset],
        ).fetchall()
        return Page([letter_from_row(row) for row in rows], page, int(total))

    async def oldest(
        self,
        organization_id: str | None,
        limit: int,
        *,
        device_id: str | None = None,
        reason: RejectReason | None = None,
    ) -> list[DeadLetter]:
        where, parameters = _filters(organization_id, device_id, reason)
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM dead_letters {where} ORDER BY received_at_ms, dead_letter_id LIMIT ?",
            [*parameters, limit],
        ).fetchall()
        return [letter_from_row(row) for row in rows]

    async def remove(self, dead_letter_ids: Collection[str]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM dead_letters WHERE dead_letter_id = ?", [(i,) for i in dead_letter_ids])

    async def close(self) -> None:
        self._db.close()


def _filters(organization_id: str | None, device_id: str | None, reason: RejectReason | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    parameters: list[Any] = []
    for column, value in (("organization_id", organization_id), ("device_id", device_id), ("reason", reason)):
        if value is not None:
            clauses.append(f"{column} = ?")
            parameters.append(str(value))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), parameters


def letter_row(letter: DeadLetter) -> tuple[Any, ...]:
    return (
        letter.dead_letter_id,
        letter.organization_id,
        letter.device_id,
        letter.reason.value,
        letter.message,
        letter.source.value,
        letter.received_at_ms,
        orjson.dumps(letter.record).decode(),
    )


def letter_from_row(row: Sequence[Any]) -> DeadLetter:
    dead_letter_id, organization_id, device_id, reason, message, source, received_at_ms, record = row
    return DeadLetter(
        dead_letter_id=dead_letter_id,
        record=orjson.loads(record),
        reason=RejectReason(reason),
        message=message,
        source=Source(source),
        received_at_ms=int(received_at_ms),
        organization_id=organization_id,
        device_id=device_id,
    )
