"""The embedded JobStore: a table in data_dir/analytics.db. A claim is one conditional UPDATE (SQLite runs it
atomically, also between processes sharing the file), so exactly one claimer sees its row change."""

from __future__ import annotations

from pathlib import Path

from services.analytics.adapters.jobs_rows import COLUMNS, job_of, job_values, jobs_sql
from services.analytics.domain.jobs import Job, JobKind, JobStatus
from services.runtime.sqlite import open_sqlite

TABLE = "analytics_jobs"
CLAIMABLE = "(status = 'queued' OR (status = 'running' AND lease_until_ms < ?))"


class SqliteJobStore:
    def __init__(self, path: Path | str):
        self._db = open_sqlite(path, jobs_sql(TABLE))

    async def close(self) -> None:
        self._db.close()

    async def add(self, job: Job) -> None:
        placeholders = ", ".join("?" * len(job_values(job)))
        self._db.execute(f"INSERT INTO {TABLE} ({COLUMNS}) VALUES ({placeholders})", job_values(job))

    async def get(self, kind: JobKind, job_id: str) -> Job | None:
        row = self._db.execute(
            f"SELECT {COLUMNS} FROM {TABLE} WHERE kind = ? AND job_id = ?", (kind.value, job_id)
        ).fetchone()
        return None if row is None else job_of(row)

    async def claim(self, kind: JobKind, job_id: str, now_ms: int, lease_ms: int) -> Job | None:
        row = self._db.execute(
            f"UPDATE {TABLE} SET status = 'running', attempt = attempt + 1, lease_until_ms = ? "
            f"WHERE kind = ? AND job_id = ? AND {CLAIMABLE} RETURNING {COLUMNS}",
            (now_ms + lease_ms, kind.value, job_id, now_ms),
        ).fetchone()
        return None if row is None else job_of(row)

    async def renew(self, kind: JobKind, job_id: str, attempt: int, until_ms: int) -> bool:
        cursor = self._db.execute(
            f"UPDATE {TABLE} SET lease_until_ms = ? WHERE kind = ? AND job_id = ? AND attempt = ? "
            "AND status = 'running'",
            (until_ms, kind.value, job_id, attempt),
        )
        return cursor.rowcount == 1

    async def finish(self, kind: JobKind, job_id: str, attempt: int, finished: Job) -> bool:
        cursor = self._db.execute(
            f"UPDATE {TABLE} SET status = ?, lease_until_ms = NULL, completed_at_ms = ?, object_key = ?, rows = ?, "
            "size = ?, error = ? WHERE kind = ? AND job_id = ? AND attempt = ? AND status = 'running'",
            (
                finished.status.value,
                finished.completed_at_ms,
                finished.object_key,
                finished.rows,
                finished.size,
                finished.error,
                kind.value,
                job_id,
                attempt,
            ),
        )
        return cursor.rowcount == 1

    async def stale(self, now_ms: int, queued_before_ms: int, limit: int) -> list[Job]:
        rows = self._db.execute(
            f"SELECT {COLUMNS} FROM {TABLE} WHERE (status = 'running' AND lease_until_ms < ?) "
            "OR (status = 'queued' AND created_at_ms < ?) ORDER BY created_at_ms LIMIT ?",
            (now_ms, queued_before_ms, limit),
        ).fetchall()
        return [job_of(row) for row in rows]

    async def count_waiting(self, kind: JobKind) -> int:
        row = self._db.execute(
            f"SELECT count(*) FROM {TABLE} WHERE kind = ? AND status IN (?, ?)",
            (kind.value, JobStatus.QUEUED.value, JobStatus.RUNNING.value),
        ).fetchone()
        return int(row[0])
