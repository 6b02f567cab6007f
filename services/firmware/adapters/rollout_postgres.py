"""The production DeploymentStore and Leases: PostgreSQL through asyncpg (services/runtime/postgres.py).

A deployment save and the jobs of the batch it starts are one transaction; job saves compare-and-set on
version_number in one UPDATE, so replicas applying reports concurrently cannot clobber each other. Leases are
decided on the server's clock (clock_timestamp()), so replicas with skewed clocks agree on expiry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.firmware.adapters.rollout_rows import (
    DEPLOYMENT_COLUMNS,
    JOB_COLUMNS,
    JOB_MUTABLE,
    OPEN_IN,
    POSTGRES,
    TARGET_COLUMNS,
    count_from_row,
    deployment_filter_where,
    deployment_from_row,
    deployment_row,
    job_filter_where,
    job_from_row,
    job_mutable_values,
    job_query_where,
    job_row,
    ms,
    placeholders,
    tables_sql,
    target_from_row,
    target_row,
    to_drive_sql,
)
from services.firmware.domain.rollout.deployment import Deployment
from services.firmware.domain.rollout.execution import Job
from services.firmware.domain.rollout.planning import Target
from services.firmware.domain.rollout.progress import JobCount
from services.firmware.domain.rollout.queries import JobQuery
from services.firmware.domain.rollout.validation import DeploymentFilter, JobFilter
from services.kernel.pagination import Page, PageRequest
from services.runtime.postgres import fetch_page, open_pool

NOW = POSTGRES.now_seconds


def _schema_sql(prefix: str) -> str:
    return tables_sql(POSTGRES, prefix)


def _deployment(record: asyncpg.Record) -> Deployment:
    return deployment_from_row(tuple(record))


def _job(record: asyncpg.Record) -> Job:
    return job_from_row(tuple(record))


class PostgresDeploymentStore:
    def __init__(self, pool: asyncpg.Pool, prefix: str = "", *, owns_pool: bool = True):
        self._pool = pool
        self._deployments = f"{prefix}rollout_deployments"
        self._targets = f"{prefix}rollout_targets"
        self._jobs = f"{prefix}rollout_jobs"
        self._leases = f"{prefix}rollout_leases"
        self._prefix = prefix
        self._owns_pool = owns_pool
        self._insert_job = (
            f"INSERT INTO {self._jobs} ({JOB_COLUMNS}) VALUES ({placeholders(POSTGRES, JOB_COLUMNS)}) "
            "ON CONFLICT DO NOTHING"
        )

    @classmethod
    async def open(cls, dsn: str, *, schema: str | None = None) -> PostgresDeploymentStore:
        """Connect and create the tables when missing (in `schema` when given, e.g. one per test)."""
        pool, prefix = await open_pool(dsn, _schema_sql, schema=schema)
        return cls(pool, prefix)

    async def close(self) -> None:
        if self._owns_pool:
            await self._pool.close()

    # Deployments.

    async def add_deployment(self, deployment: Deployment, targets: Sequence[Target]) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                f"INSERT INTO {self._deployments} ({DEPLOYMENT_COLUMNS}) "
                f"VALUES ({placeholders(POSTGRES, DEPLOYMENT_COLUMNS)})",
                *deployment_row(deployment),
            )
            await connection.executemany(
                f"INSERT INTO {self._targets} ({TARGET_COLUMNS}) VALUES ($1, $2, $3, $4)",
                [target_row(deployment.deployment_id, t) for t in targets],
            )

    async def get_deployment(self, deployment_id: str) -> Deployment | None:
        record = await self._pool.fetchrow(
            f"SELECT {DEPLOYMENT_COLUMNS} FROM {self._deployments} WHERE deployment_id = $1", deployment_id
        )
        return _deployment(record) if record else None

    async def save_deployment(
        self, deployment: Deployment, *, expected_revision: int, new_jobs: Sequence[Job] = ()
    ) -> bool:
        columns = DEPLOYMENT_COLUMNS.split(", ")[1:]
        assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, 1))
        n = len(columns)
        async with self._pool.acquire() as connection, connection.transaction():
            status = await connection.execute(
                f"UPDATE {self._deployments} SET {assignments} WHERE deployment_id = ${n + 1} AND revision = ${n + 2}",
                *deployment_row(deployment)[1:],
                deployment.deployment_id,
                expected_revision,
            )
            if status != "UPDATE 1":
                return False
            if new_jobs:
                await connection.executemany(self._insert_job, [job_row(j) for j in new_jobs])
        return True

    async def list_deployments(self, org_id: str, query: DeploymentFilter, page: PageRequest) -> Page[Deployment]:
        where = deployment_filter_where(POSTGRES, org_id, query)
        return await fetch_page(
            self._pool,
            page,
            _deployment,
            columns=DEPLOYMENT_COLUMNS,
            source=f"FROM {self._deployments} WHERE {where.sql}",
            parameters=where.parameters,
            order_by="created_at_ms DESC, deployment_id DESC",
        )

    async def deployments_to_drive(self, now: datetime) -> list[str]:
        records = await self._pool.fetch(to_drive_sql(POSTGRES, self._prefix), ms(now))
        return [r[0] for r in records]

    async def targets_of_batch(self, deployment_id: str, batch_id: int) -> list[Target]:
        records = await self._pool.fetch(
            f"SELECT {TARGET_COLUMNS} FROM {self._targets} WHERE deployment_id = $1 AND batch_id = $2 "
            "ORDER BY device_id",
            deployment_id,
            batch_id,
        )
        return [target_from_row(tuple(r)) for r in records]

    # Jobs.

    async def get_job(self, job_id: str) -> Job | None:
        record = await self._pool.fetchrow(f"SELECT {JOB_COLUMNS} FROM {self._jobs} WHERE job_id = $1", job_id)
        return _job(record) if record else None

    async def save_job(self, job: Job, *, expected_version: int) -> bool:
        assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(JOB_MUTABLE, 1))
        n = len(JOB_MUTABLE)
        status = await self._pool.execute(
            f"UPDATE {self._jobs} SET {assignments} WHERE job_id = ${n + 1} AND version_number = ${n + 2}",
            *job_mutable_values(job),
            job.job_id,
            expected_version,
        )
        return bool(status == "UPDATE 1")

    async def mark_notified(self, job_id: str, attempt: int, at: datetime) -> bool:
        status = await self._pool.execute(
            f"UPDATE {self._jobs} SET notified_attempt = $1, active_since_ms = $2 WHERE job_id = $3 AND attempt = $1",
            attempt,
            ms(at),
            job_id,
        )
        return bool(status == "UPDATE 1")

    async def jobs(self, deployment_id: str, query: JobQuery) -> list[Job]:
        where = job_query_where(POSTGRES, deployment_id, query)
        records = await self._pool.fetch(
            f"SELECT {JOB_COLUMNS} FROM {self._jobs} WHERE {where.sql} ORDER BY batch_id, device_id, operation",
            *where.parameters,
        )
        return [_job(r) for r in records]

    async def list_jobs(self, deployment_id: str, query: JobFilter, page: PageRequest) -> Page[Job]:
        where = job_filter_where(POSTGRES, deployment_id, query)
        return await fetch_page(
            self._pool,
            page,
            _job,
            columns=JOB_COLUMNS,
            source=f"FROM {self._jobs} WHERE {where.sql}",
            parameters=where.parameters,
            order_by="batch_id, operation, device_id",
        )

    async def job_counts(self, deployment_id: str) -> list[JobCount]:
        records = await self._pool.fetch(
            f"SELECT batch_id, operation, status, attempt, count(*) FROM {self._jobs} WHERE deployment_id = $1 "
            "GROUP BY batch_id, operation, status, attempt ORDER BY 1, 2, 3, 4",
            deployment_id,
        )
        return [count_from_row(tuple(r)) for r in records]

    async def open_jobs_of_device(self, device_id: str) -> list[Job]:
        records = await self._pool.fetch(
            f"SELECT {JOB_COLUMNS} FROM {self._jobs} WHERE device_id = $1 AND {OPEN_IN} ORDER BY queued_at_ms, job_id",
            device_id,
        )
        return [_job(r) for r in records]

    # Leases, on the server's clock.

    async def try_acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        row = await self._pool.fetchrow(
            f"INSERT INTO {self._leases} AS lease (name, holder, expires_at) VALUES ($1, $2, {NOW} + $3::float8) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
            f"WHERE lease.holder = excluded.holder OR lease.expires_at < {NOW} RETURNING holder",
            name,
            holder,
            ttl_seconds,
        )
        return row is not None

    async def renew(self, name: str, holder: str, ttl_seconds: float) -> bool:
        row = await self._pool.fetchrow(
            f"UPDATE {self._leases} SET expires_at = {NOW} + $1::float8 WHERE name = $2 AND holder = $3 "
            "RETURNING holder",
            ttl_seconds,
            name,
            holder,
        )
        return row is not None

    async def release(self, name: str, holder: str) -> None:
        await self._pool.execute(f"DELETE FROM {self._leases} WHERE name = $1 AND holder = $2", name, holder)
