"""The embedded DeploymentStore and Leases: tables in the firmware service's SQLite file (data_dir/firmware.db,
beside the catalog's), through services/runtime/sqlite.py (WAL, autocommit, short transactions).

A deployment save and the jobs of the batch it starts are one IMMEDIATE transaction; job saves compare-and-set
on version_number in one UPDATE, so replicas (processes) sharing the file cannot clobber each other. Leases
are decided on SQLite's own clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from services.firmware.adapters.rollout_rows import (
    DEPLOYMENT_COLUMNS,
    JOB_COLUMNS,
    JOB_MUTABLE,
    OPEN_IN,
    SQLITE,
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
from services.runtime.sqlite import fetch_page, immediate_transaction, open_sqlite

NOW = SQLITE.now_seconds
INSERT_JOB = f"INSERT OR IGNORE INTO rollout_jobs ({JOB_COLUMNS}) VALUES ({placeholders(SQLITE, JOB_COLUMNS)})"


class SqliteDeploymentStore:
    def __init__(self, path: Path | str):
        self._db = open_sqlite(path, tables_sql(SQLITE))

    async def close(self) -> None:
        self._db.close()

    # Deployments.

    async def add_deployment(self, deployment: Deployment, targets: Sequence[Target]) -> None:
        with immediate_transaction(self._db) as db:
            db.execute(
                f"INSERT INTO rollout_deployments ({DEPLOYMENT_COLUMNS}) "
                f"VALUES ({placeholders(SQLITE, DEPLOYMENT_COLUMNS)})",
                deployment_row(deployment),
            )
            db.executemany(
                f"INSERT INTO rollout_targets ({TARGET_COLUMNS}) VALUES (?, ?, ?, ?)",
                [target_row(deployment.deployment_id, t) for t in targets],
            )

    async def get_deployment(self, deployment_id: str) -> Deployment | None:
        row = self._db.execute(
            f"SELECT {DEPLOYMENT_COLUMNS} FROM rollout_deployments WHERE deployment_id = ?", (deployment_id,)
        ).fetchone()
        return deployment_from_row(row) if row else None

    async def save_deployment(
        self, deployment: Deployment, *, expected_revision: int, new_jobs: Sequence[Job] = ()
    ) -> bool:
        columns = DEPLOYMENT_COLUMNS.split(", ")[1:]
        assignments = ", ".join(f"{c} = ?" for c in columns)
        with immediate_transaction(self._db) as db:
            cursor = db.execute(
                f"UPDATE rollout_deployments SET {assignments} WHERE deployment_id = ? AND revision = ?",
                (*deployment_row(deployment)[1:], deployment.deployment_id, expected_revision),
            )
            saved = cursor.rowcount == 1
            if saved and new_jobs:
                db.executemany(INSERT_JOB, [job_row(j) for j in new_jobs])
        return saved

    async def list_deployments(self, org_id: str, query: DeploymentFilter, page: PageRequest) -> Page[Deployment]:
        where = deployment_filter_where(SQLITE, org_id, query)
        return fetch_page(
            self._db,
            page,
            deployment_from_row,
            columns=DEPLOYMENT_COLUMNS,
            source=f"FROM rollout_deployments WHERE {where.sql}",
            parameters=where.parameters,
            order_by="created_at_ms DESC, deployment_id DESC",
        )

    async def deployments_to_drive(self, now: datetime) -> list[str]:
        return [r[0] for r in self._db.execute(to_drive_sql(SQLITE, ""), (ms(now),)).fetchall()]

    async def targets_of_batch(self, deployment_id: str, batch_id: int) -> list[Target]:
        rows = self._db.execute(
            f"SELECT {TARGET_COLUMNS} FROM rollout_targets WHERE deployment_id = ? AND batch_id = ? ORDER BY device_id",
            (deployment_id, batch_id),
        ).fetchall()
        return [target_from_row(r) for r in rows]

    # Jobs.

    async def get_job(self, job_id: str) -> Job | None:
        row = self._db.execute(f"SELECT {JOB_COLUMNS} FROM rollout_jobs WHERE job_id = ?", (job_id,)).fetchone()
        return job_from_row(row) if row else None

    async def save_job(self, job: Job, *, expected_version: int) -> bool:
        assignments = ", ".join(f"{c} = ?" for c in JOB_MUTABLE)
        cursor = self._db.execute(
            f"UPDATE rollout_jobs SET {assignments} WHERE job_id = ? AND version_number = ?",
            (*job_mutable_values(job), job.job_id, expected_version),
        )
        return cursor.rowcount == 1

    async def mark_notified(self, job_id: str, attempt: int, at: datetime) -> bool:
        cursor = self._db.execute(
            "UPDATE rollout_jobs SET notified_attempt = ?, active_since_ms = ? WHERE job_id = ? AND attempt = ?",
            (attempt, ms(at), job_id, attempt),
        )
        return cursor.rowcount == 1

    async def jobs(self, deployment_id: str, query: JobQuery) -> list[Job]:
        where = job_query_where(SQLITE, deployment_id, query)
        rows = self._db.execute(
            f"SELECT {JOB_COLUMNS} FROM rollout_jobs WHERE {where.sql} ORDER BY batch_id, device_id, operation",
            where.parameters,
        ).fetchall()
        return [job_from_row(r) for r in rows]

    async def list_jobs(self, deployment_id: str, query: JobFilter, page: PageRequest) -> Page[Job]:
        where = job_filter_where(SQLITE, deployment_id, query)
        return fetch_page(
            self._db,
            page,
            job_from_row,
            columns=JOB_COLUMNS,
            source=f"FROM rollout_jobs WHERE {where.sql}",
            parameters=where.parameters,
            order_by="batch_id, operation, device_id",
        )

    async def job_counts(self, deployment_id: str) -> list[JobCount]:
        rows = self._db.execute(
            "SELECT batch_id, operation, status, attempt, count(*) FROM rollout_jobs WHERE deployment_id = ? "
            "GROUP BY batch_id, operation, status, attempt ORDER BY 1, 2, 3, 4",
            (deployment_id,),
        ).fetchall()
        return [count_from_row(r) for r in rows]

    async def open_jobs_of_device(self, device_id: str) -> list[Job]:
        rows = self._db.execute(
            f"SELECT {JOB_COLUMNS} FROM rollout_jobs WHERE device_id = ? AND {OPEN_IN} ORDER BY queued_at_ms, job_id",
            (device_id,),
        ).fetchall()
        return [job_from_row(r) for r in rows]

    # Leases, on SQLite's clock.

    async def try_acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        row = self._db.execute(
            f"INSERT INTO rollout_leases (name, holder, expires_at) VALUES (?, ?, {NOW} + ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
            f"WHERE rollout_leases.holder = excluded.holder OR rollout_leases.expires_at < {NOW} RETURNING holder",
            (name, holder, ttl_seconds),
        ).fetchall()  # all: a RETURNING statement commits only once stepped to its end
        return bool(row)

    async def renew(self, name: str, holder: str, ttl_seconds: float) -> bool:
        row = self._db.execute(
            f"UPDATE rollout_leases SET expires_at = {NOW} + ? WHERE name = ? AND holder = ? RETURNING holder",
            (ttl_seconds, name, holder),
        ).fetchall()
        return bool(row)

    async def release(self, name: str, holder: str) -> None:
        self._db.execute("DELETE FROM rollout_leases WHERE name = ? AND holder = ?", (name, holder))
