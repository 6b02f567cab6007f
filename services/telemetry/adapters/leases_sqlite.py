"""The embedded lease table: one SQLite file, shared by consumers on one host (processes or replicas).

Each conditional write is one UPDATE ... WHERE <condition> RETURNING: SQLite runs it atomically, and the
busy timeout of open_sqlite lets processes sharing the file take turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from services.runtime.sqlite import open_sqlite
from services.telemetry.adapters.leases import Lease

SCHEMA = """
CREATE TABLE IF NOT EXISTS kinesis_leases (
    stream TEXT NOT NULL,
    shard_id TEXT NOT NULL,
    owner TEXT,
    counter INTEGER NOT NULL DEFAULT 0,
    expires_at_ms INTEGER NOT NULL DEFAULT 0,
    checkpoint TEXT,
    parents TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (stream, shard_id)
) WITHOUT ROWID;
"""
COLUMNS = "shard_id, owner, counter, expires_at_ms, checkpoint, parents"


class SqliteLeaseStore:
    def __init__(self, path: Path | str, stream: str) -> None:
        self._db = open_sqlite(path, SCHEMA)
        self._stream = stream

    async def ensure(self, leases: Sequence[Lease]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO kinesis_leases (stream, shard_id, checkpoint, parents) VALUES (?, ?, ?, ?)",
            [
                (self._stream, lease.shard_id, lease.checkpoint, orjson.dumps(lease.parents).decode())
                for lease in leases
            ],
        )

    async def list(self) -> list[Lease]:
        rows = self._db.execute(
            f"SELECT {COLUMNS} FROM kinesis_leases WHERE stream = ? ORDER BY shard_id", (self._stream,)
        ).fetchall()
        return [_lease(row) for row in rows]

    async def take(self, lease: Lease, owner: str, expires_at_ms: int) -> Lease | None:
        return self._update(
            "owner = ?, expires_at_ms = ?, counter = counter + 1",
            "counter = ?",
            (owner, expires_at_ms),
            (lease.counter,),
            lease.shard_id,
        )

    async def renew(self, shard_id: str, owner: str, expires_at_ms: int) -> Lease | None:
        return self._update(
            "expires_at_ms = ?, counter = counter + 1", "owner = ?", (expires_at_ms,), (owner,), shard_id
        )

    async def checkpoint(self, shard_id: str, owner: str, sequence_number: str) -> bool:
        return self._update("checkpoint = ?", "owner = ?", (sequence_number,), (owner,), shard_id) is not None

    async def release(self, shard_id: str, owner: str) -> None:
        self._update("owner = NULL, expires_at_ms = 0, counter = counter + 1", "owner = ?", (), (owner,), shard_id)

    async def close(self) -> None:
        self._db.close()

    def _update(
        self, assignments: str, condition: str, values: tuple[object, ...], expected: tuple[object, ...], shard_id: str
    ) -> Lease | None:
        row = self._db.execute(
            f"UPDATE kinesis_leases SET {assignments} WHERE stream = ? AND shard_id = ? AND {condition} "
            f"RETURNING {COLUMNS}",
            (*values, self._stream, shard_id, *expected),
        ).fetchone()
        return _lease(row) if row else None


def _lease(row: tuple[Any, ...]) -> Lease:
    shard_id, owner, counter, expires_at_ms, checkpoint, parents = row
    return Lease(
        shard_id=str(shard_id),
        owner=str(owner) if owner is not None else None,
        counter=int(counter),
        expires_at_ms=int(expires_at_ms),
        checkpoint=str(checkpoint) if checkpoint is not None else None,
        parents=tuple(orjson.loads(str(parents))),
    )
