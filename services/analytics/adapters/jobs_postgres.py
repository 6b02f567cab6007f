"""The production JobStore: PostgreSQL, shared by every analytics replica. A claim is one conditional UPDATE
… RETURNING (row-locked: of two replicas claiming at once, the second re-checks the condition and loses)."""

from __future__ import annotations

import asyncpg

from services.analytics.adapters.jobs_rows import COLUMNS, job_of, job_values, jobs_sql
from services.analytics.domain.jobs import Job, JobKind
from services.runtime.postgres import open_pool

TABLE = "analytics_jobs"


class PostgresJobStore:
    def __init__(self, pool: asyncpg.Pool, prefix: str = ""):
        self._pool = pool
        self._table = f"{prefix}{TABLE}"

    @classmethod
    async def open(cls, dsn: str, *, schema: str | None = None) -> PostgresJobStore:
        pool, prefix = await open_pool(dsn, lambda p: jobs_sql(f"{p}{TABLE}"), schema=schema, max_size=4)
        return cls(pool, prefix)

    async def close(self) -> None:
        await self._pool.close()

    async def add(self, job: Job) -> None:
        values = job_values(job)
        placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
        await self._pool.execute(f"INSERT INTO {self._table} ({COLUMNS}) VALUES ({placeholders})", *values)

    async def get(self, kind: JobKind, job_id: str) -> Job | None:
        row = await self._pool.fetchrow(
            f"SELECT {COLUMNS} FROM {self._table} WHERE kind = $1 AND job_id = $2", kind.value, job_id
        )
        return None if row is None else job_of(tuple(row))

    async def claim(self, kind: JobKind, job_id: str, now_ms: int, lease_ms: int) -> Job | None:
        row = await self._pool.fetchrow(
            f"UPDATE {self._table} SET status = 'running', attempt = attempt + 1, lease_until_ms = $1 "
            "WHERE kind = $2 AND job_id = $3 AND (status = 'queued' OR (status = 'running' AND lease_until_ms < $4)) "
            f"RETURNING {COLUMNS}",
            now_ms + lease_ms,
            kind.value,
            job_id,
            now_ms,
        )
        return None if row is None else job_of(tuple(row))

    async def renew(self, kind: JobKind, job_id: str, attempt: int, until_ms: int) -> bool:
        status = await self._pool.execute(
            f"UPDATE {self._table} SET lease_until_ms = $1 WHERE kind = $2 AND job_id = $3 AND attempt = $4 "
            "AND status = 'running'",
            until_ms,
            kind.value,
            job_id,
            attempt,
        )
        return status.endswith(" 1")

    async def finish(self, kind: JobKind, job_id: str, attempt: int, finished: Job) -> bool:
        status = await self._pool.execute(
            f"UPDATE {self._table} SET status = $1, lease_until_ms = NULL, completed_at_ms = $2, object_key = $3, "
            "rows = $4, size = $5, error = $6 WHERE kind = $7 AND job_id = $8 AND attempt = $9 AND status = 'running'",
            finished.status.value,
            finished.completed_at_ms,
            finished.object_key,
            finished.rows,
            finished.size,
            finished.error,
            kind.value,
            job_id,
            attempt,
        )
        return status.endswith(" 1")

    async def stale(self, now_ms: int, queued_before_ms: int, limit: int) -> list[Job]:
        rows = await self._pool.fetch(
            f"SELECT {COLUMNS} FROM {self._table} WHERE (status = 'running' AND lease_until_ms < $1) "
            "OR (status = 'queued' AND created_at_ms < $2) ORDER BY created_at_ms LIMIT $3",
            now_ms,
            queued_before_ms,
            limit,
        )
        return [job_of(tuple(row)) for row in rows]

    async def count_waiting(self, kind: JobKind) -> int:
        count = await self._pool.fetchval(
            f"SELECT count(*) FROM {self._table} WHERE kind = $1 AND status IN ('queued', 'running')", kind.value
        )
        return int(count)
