"""The jobs table, one DDL for SQLite and PostgreSQL, and a row ↔ Job conversion both stores share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from services.analytics.domain.jobs import Job, JobKind, JobStatus

COLUMNS = (
    "kind, job_id, organization_id, requested_by, format, report_type, parameters, status, created_at_ms, "
    "estimated_completion_ms, attempt, lease_until_ms, completed_at_ms, object_key, rows, size, error"
)


def jobs_sql(table: str) -> str:
    index = table.replace('"', "").replace(".", "_")
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    kind TEXT NOT NULL, job_id TEXT NOT NULL, organization_id TEXT NOT NULL, requested_by TEXT NOT NULL,
    format TEXT NOT NULL, report_type TEXT NOT NULL, parameters TEXT NOT NULL, status TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL, estimated_completion_ms BIGINT NOT NULL, attempt INTEGER NOT NULL,
    lease_until_ms BIGINT, completed_at_ms BIGINT, object_key TEXT, rows BIGINT, size BIGINT, error TEXT,
    PRIMARY KEY (kind, job_id)
);
CREATE INDEX IF NOT EXISTS {index}_waiting ON {table} (status, kind);
"""


def job_values(job: Job) -> tuple[Any, ...]:
    return (
        job.kind.value,
        job.job_id,
        job.organization_id,
        job.requested_by,
        job.format,
        job.report_type,
        orjson.dumps(job.parameters).decode(),
        job.status.value,
        job.created_at_ms,
        job.estimated_completion_ms,
        job.attempt,
        job.lease_until_ms,
        job.completed_at_ms,
        job.object_key,
        job.rows,
        job.size,
        job.error,
    )


def job_of(row: Sequence[Any]) -> Job:
    return Job(
        kind=JobKind(row[0]),
        job_id=row[1],
        organization_id=row[2],
        requested_by=row[3],
        format=row[4],
        report_type=row[5],
        parameters=orjson.loads(row[6]),
        status=JobStatus(row[7]),
        created_at_ms=int(row[8]),
        estimated_completion_ms=int(row[9]),
        attempt=int(row[10]),
        lease_until_ms=None if row[11] is None else int(row[11]),
        completed_at_ms=None if row[12] is None else int(row[12]),
        object_key=row[13],
        rows=None if row[14] is None else int(row[14]),
        size=None if row[15] is None else int(row[15]),
        error=row[16],
    )
