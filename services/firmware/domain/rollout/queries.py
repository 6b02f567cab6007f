"""Which jobs of a deployment the orchestrator asks the store for (each a small, indexed selection)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.firmware.domain.rollout.execution import OPEN, RETRYABLE
from services.firmware.domain.rollout.job import JobOperation, JobStatus


@dataclass(frozen=True)
class JobQuery:
    """Conditions that all hold (None: any)."""

    statuses: frozenset[JobStatus] | None = None
    operation: JobOperation | None = None
    operation_other_than: JobOperation | None = None
    # notified_attempt < attempt: the current attempt was never accepted by the channel.
    unsent: bool = False
    # notified_attempt = attempt and active_since <= this instant: sent, and silent since.
    silent_since: datetime | None = None
    attempt_at_most: int | None = None


def to_send(operation: JobOperation) -> JobQuery:
    return JobQuery(statuses=frozenset({JobStatus.QUEUED}), operation=operation, unsent=True)


def silent(operation: JobOperation, since: datetime) -> JobQuery:
    return JobQuery(statuses=OPEN, operation=operation, silent_since=since)


def to_retry(operation: JobOperation, max_retries: int) -> JobQuery:
    return JobQuery(statuses=RETRYABLE, operation=operation, attempt_at_most=max_retries)


def open_jobs(operation: JobOperation | None = None, *, other_than: JobOperation | None = None) -> JobQuery:
    return JobQuery(statuses=OPEN, operation=operation, operation_other_than=other_than)


def matches(
    query: JobQuery,
    status: JobStatus,
    operation: JobOperation,
    attempt: int,
    notified_attempt: int,
    active_since: datetime | None,
) -> bool:
    """The same conditions in Python, for the in-memory store."""
    if query.statuses is not None and status not in query.statuses:
        return False
    if query.operation is not None and operation is not query.operation:
        return False
    if query.operation_other_than is not None and operation is query.operation_other_than:
        return False
    if query.unsent and notified_attempt >= attempt:
        return False
    if query.silent_since is not None and (
        notified_attempt != attempt or active_since is None or active_since > query.silent_since
    ):
        return False
    return query.attempt_at_most is None or attempt <= query.attempt_at_most
