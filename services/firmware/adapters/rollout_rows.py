"""The rollout tables as rows, shared by the SQLite and PostgreSQL stores.

Same tables, columns (in this order) and filters in both; only column types, placeholders (`?` against
`$1`) and list membership differ, which a `Dialect` says. Times are milliseconds since the epoch; a job's
status details are a JSON object in a text column. The tables live beside the catalog's (firmware.db) under
names of their own (`rollout_*`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from services.firmware.domain.rollout.deployment import (
    Deployment,
    DeploymentStatus,
    FirmwareImage,
    InstallOutcome,
    ScheduleType,
    Strategy,
)
from services.firmware.domain.rollout.execution import OPEN, Job
from services.firmware.domain.rollout.job import JobOperation, JobStatus
from services.firmware.domain.rollout.planning import Target
from services.firmware.domain.rollout.progress import JobCount
from services.firmware.domain.rollout.queries import JobQuery
from services.firmware.domain.rollout.validation import DeploymentFilter, JobFilter


@dataclass(frozen=True)
class Dialect:
    integer: str  # milliseconds, sizes
    real: str
    placeholder: Callable[[int], str]
    # `column IN (…)` for a list bound as parameters starting at the given index.
    in_list: Callable[[str, int, int], str]
    # The store's clock in seconds since the epoch, as SQL (leases are decided on it).
    now_seconds: str


def _sqlite_in(column: str, first: int, count: int) -> str:
    return f"{column} IN ({', '.join('?' * count)})"


def _postgres_in(column: str, first: int, count: int) -> str:
    return f"{column} IN ({', '.join(f'${i}' for i in range(first, first + count))})"


SQLITE = Dialect("INTEGER", "REAL", lambda _: "?", _sqlite_in, "((julianday('now') - 2440587.5) * 86400.0)")
POSTGRES = Dialect(
    "BIGINT", "DOUBLE PRECISION", lambda i: f"${i}", _postgres_in, "extract(epoch from clock_timestamp())::float8"
)


def tables_sql(d: Dialect, prefix: str = "") -> str:
    i = d.integer
    return f"""
CREATE TABLE IF NOT EXISTS {prefix}rollout_deployments (
    deployment_id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    firmware_id TEXT NOT NULL,
    firmware_version TEXT NOT NULL,
    object_key TEXT NOT NULL,
    checksum TEXT NOT NULL,
    size {i} NOT NULL,
    strategy TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    target_count INTEGER NOT NULL,
    status TEXT NOT NULL,
    success_threshold {d.real} NOT NULL,
    job_timeout_seconds INTEGER NOT NULL,
    max_retries INTEGER NOT NULL,
    schedule_type TEXT NOT NULL,
    scheduled_start_ms {i},
    created_by TEXT NOT NULL,
    created_at_ms {i} NOT NULL,
    started_at_ms {i},
    completed_at_ms {i},
    halt_reason TEXT,
    current_batch INTEGER NOT NULL,
    install_outcome TEXT,
    operation TEXT NOT NULL,
    revision INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rollout_deployments_by_org ON {prefix}rollout_deployments (org_id, created_at_ms);
CREATE INDEX IF NOT EXISTS rollout_deployments_by_status ON {prefix}rollout_deployments (status, scheduled_start_ms);
CREATE TABLE IF NOT EXISTS {prefix}rollout_targets (
    deployment_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    previous_version TEXT,
    PRIMARY KEY (deployment_id, device_id)
);
CREATE INDEX IF NOT EXISTS rollout_targets_by_batch ON {prefix}rollout_targets (deployment_id, batch_id);
CREATE TABLE IF NOT EXISTS {prefix}rollout_jobs (
    job_id TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    batch_id INTEGER NOT NULL,
    operation TEXT NOT NULL,
    firmware_id TEXT NOT NULL,
    firmware_version TEXT NOT NULL,
    object_key TEXT NOT NULL,
    checksum TEXT NOT NULL,
    size {i} NOT NULL,
    previous_version TEXT,
    status TEXT NOT NULL,
    status_details TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    version_number INTEGER NOT NULL,
    notified_attempt INTEGER NOT NULL,
    queued_at_ms {i} NOT NULL,
    updated_at_ms {i} NOT NULL,
    active_since_ms {i},
    UNIQUE (deployment_id, device_id, operation)
);
CREATE INDEX IF NOT EXISTS rollout_jobs_by_deployment ON {prefix}rollout_jobs (deployment_id, status, batch_id);
CREATE INDEX IF NOT EXISTS rollout_jobs_by_device ON {prefix}rollout_jobs (device_id, status);
CREATE INDEX IF NOT EXISTS rollout_jobs_open ON {prefix}rollout_jobs (status, deployment_id);
CREATE TABLE IF NOT EXISTS {prefix}rollout_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at {d.real} NOT NULL
);
"""


DEPLOYMENT_COLUMNS = (
    "deployment_id, org_id, firmware_id, firmware_version, object_key, checksum, size, strategy, batch_size, "
    "target_count, status, success_threshold, job_timeout_seconds, max_retries, schedule_type, scheduled_start_ms, "
    "created_by, created_at_ms, started_at_ms, completed_at_ms, halt_reason, current_batch, install_outcome, "
    "operation, revision"
)
TARGET_COLUMNS = "deployment_id, device_id, batch_id, previous_version"
JOB_COLUMNS = (
    "job_id, deployment_id, org_id, device_id, batch_id, operation, firmware_id, firmware_version, object_key, "
    "checksum, size, previous_version, status, status_details, attempt, version_number, notified_attempt, "
    "queued_at_ms, updated_at_ms, active_since_ms"
)
# What a job's status change writes (save_job).
JOB_MUTABLE = (
    "status",
    "status_details",
    "attempt",
    "version_number",
    "notified_attempt",
    "updated_at_ms",
    "active_since_ms",
)
OPEN_IN = "status IN ({})".format(", ".join(sorted(f"'{s.value}'" for s in OPEN)))
DRIVEN_IN = "status IN ({})".format(", ".join(sorted(f"'{s.value}'" for s in DeploymentStatus if s.driven)))


def placeholders(d: Dialect, columns: str, first: int = 1) -> str:
    return ", ".join(d.placeholder(first + i) for i in range(len(columns.split(", "))))


def ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def when(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


def _when(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def deployment_row(d: Deployment) -> tuple[Any, ...]:
    return (
        d.deployment_id,
        d.org_id,
        d.image.firmware_id,
        d.image.version,
        d.image.object_key,
        d.image.checksum,
        d.image.size,
        d.strategy.value,
        d.batch_size,
        d.target_count,
        d.status.value,
        d.success_threshold,
        d.job_timeout_seconds,
        d.max_retries,
        d.schedule_type.value,
        ms(d.scheduled_start),
        d.created_by,
        ms(d.created_at),
        ms(d.started_at),
        ms(d.completed_at),
        d.halt_reason,
        d.current_batch,
        d.install_outcome.value if d.install_outcome else None,
        d.operation.value,
        d.revision,
    )


def deployment_from_row(r: Sequence[Any]) -> Deployment:
    return Deployment(
        deployment_id=r[0],
        org_id=r[1],
        image=FirmwareImage(r[2], r[3], r[4], r[5], int(r[6])),
        strategy=Strategy(r[7]),
        batch_size=int(r[8]),
        target_count=int(r[9]),
        status=DeploymentStatus(r[10]),
        success_threshold=float(r[11]),
        job_timeout_seconds=int(r[12]),
        max_retries=int(r[13]),
        schedule_type=ScheduleType(r[14]),
        scheduled_start=when(r[15]),
        created_by=r[16],
        created_at=_when(r[17]),
        started_at=when(r[18]),
        completed_at=when(r[19]),
        halt_reason=r[20],
        current_batch=int(r[21]),
        install_outcome=InstallOutcome(r[22]) if r[22] else None,
        operation=JobOperation(r[23]),
        revision=int(r[24]),
    )


def target_row(deployment_id: str, t: Target) -> tuple[Any, ...]:
    return (deployment_id, t.device_id, t.batch_id, t.previous_version)


def target_from_row(r: Sequence[Any]) -> Target:
    return Target(r[1], int(r[2]), r[3])


def job_row(j: Job) -> tuple[Any, ...]:
    return (
        j.job_id,
        j.deployment_id,
        j.org_id,
        j.device_id,
        j.batch_id,
        j.operation.value,
        j.image.firmware_id,
        j.image.version,
        j.image.object_key,
        j.image.checksum,
        j.image.size,
        j.previous_version,
        j.status.value,
        orjson.dumps(dict(j.status_details)).decode(),
        j.attempt,
        j.version_number,
        j.notified_attempt,
        ms(j.queued_at),
        ms(j.updated_at),
        ms(j.active_since),
    )


def job_mutable_values(j: Job) -> tuple[Any, ...]:
    return (
        j.status.value,
        orjson.dumps(dict(j.status_details)).decode(),
        j.attempt,
        j.version_number,
        j.notified_attempt,
        ms(j.updated_at),
        ms(j.active_since),
    )


def job_from_row(r: Sequence[Any]) -> Job:
    return Job(
        job_id=r[0],
        deployment_id=r[1],
        org_id=r[2],
        device_id=r[3],
        batch_id=int(r[4]),
        operation=JobOperation(r[5]),
        image=FirmwareImage(r[6], r[7], r[8], r[9], int(r[10])),
        previous_version=r[11],
        status=JobStatus(r[12]),
        status_details=orjson.loads(r[13]),
        attempt=int(r[14]),
        version_number=int(r[15]),
        notified_attempt=int(r[16]),
        queued_at=_when(r[17]),
        updated_at=_when(r[18]),
        active_since=when(r[19]),
    )


def count_from_row(r: Sequence[Any]) -> JobCount:
    return JobCount(int(r[0]), JobOperation(r[1]), JobStatus(r[2]), int(r[3]), int(r[4]))


class Where:
    """Conditions joined by AND, with their parameters numbered in the dialect's style."""

    def __init__(self, d: Dialect, first: int = 1):
        self._d = d
        self.conditions: list[str] = []
        self.parameters: list[Any] = []
        self._first = first

    def _next(self) -> str:
        return self._d.placeholder(self._first + len(self.parameters))

    def equals(self, column: str, value: Any, operator: str = "=") -> None:
        self.conditions.append(f"{column} {operator} {self._next()}")
        self.parameters.append(value)

    def among(self, column: str, values: Sequence[Any]) -> None:
        self.conditions.append(self._d.in_list(column, self._first + len(self.parameters), len(values)))
        self.parameters.extend(values)

    def raw(self, condition: str) -> None:
        self.conditions.append(condition)

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions) or "TRUE"


def job_query_where(d: Dialect, deployment_id: str, q: JobQuery) -> Where:
    w = Where(d)
    w.equals("deployment_id", deployment_id)
    if q.statuses is not None:
        w.among("status", sorted(s.value for s in q.statuses))
    if q.operation is not None:
        w.equals("operation", q.operation.value)
    if q.operation_other_than is not None:
        w.equals("operation", q.operation_other_than.value, "!=")
    if q.unsent:
        w.raw("notified_attempt < attempt")
    if q.silent_since is not None:
        w.raw("notified_attempt = attempt")
        w.equals("active_since_ms", ms(q.silent_since), "<=")
    if q.attempt_at_most is not None:
        w.equals("attempt", q.attempt_at_most, "<=")
    return w


def job_filter_where(d: Dialect, deployment_id: str, q: JobFilter) -> Where:
    w = Where(d)
    w.equals("deployment_id", deployment_id)
    if q.status is not None:
        w.equals("status", q.status.value)
    if q.batch_id is not None:
        w.equals("batch_id", q.batch_id)
    return w


def deployment_filter_where(d: Dialect, org_id: str, q: DeploymentFilter) -> Where:
    w = Where(d)
    w.equals("org_id", org_id)
    if q.status is not None:
        w.equals("status", q.status.value)
    if q.firmware_id is not None:
        w.equals("firmware_id", q.firmware_id)
    return w


def to_drive_sql(d: Dialect, prefix: str) -> str:
    """Deployment ids to advance (DeploymentStore.deployments_to_drive); parameter 1 is now in ms."""
    deployments, jobs = f"{prefix}rollout_deployments", f"{prefix}rollout_jobs"
    return (
        f"SELECT deployment_id FROM {deployments} WHERE {DRIVEN_IN} "
        f"OR (status = 'scheduled' AND scheduled_start_ms <= {d.placeholder(1)}) "
        f"UNION SELECT j.deployment_id FROM {jobs} j JOIN {deployments} dep ON dep.deployment_id = j.deployment_id "
        f"WHERE j.{OPEN_IN} AND (NOT dep.{DRIVEN_IN} OR j.operation != dep.operation) "
        "ORDER BY 1"
    )
