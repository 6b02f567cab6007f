"""Report and export jobs (§3.5.3, §3.5.4): one lifecycle, queued → running → completed | failed.

A worker claims a job with a lease (the store's compare-and-set): a job that is running under a live lease,
completed or failed is never built again; a job whose lease expired (its worker died) may be claimed again,
and the attempt number fences the old worker out — its completion no longer matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.kernel.errors import NotFound


class JobKind(StrEnum):
    REPORT = "report"
    EXPORT = "export"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: JobKind
    organization_id: str
    requested_by: str
    format: str
    # Reports: their type (device-uptime, …); exports: "".
    report_type: str
    # The validated request, JSON-ready (ReportSpec.as_parameters / ExportSpec.as_parameters).
    parameters: dict[str, Any]
    status: JobStatus
    created_at_ms: int
    estimated_completion_ms: int
    attempt: int = 0
    lease_until_ms: int | None = None
    completed_at_ms: int | None = None
    object_key: str | None = None
    rows: int | None = None
    size: int | None = None
    error: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What a finished build leaves: the object written and its size, and for exports the rows."""

    object_key: str
    size: int
    rows: int | None = None


class JobNotFound(NotFound):
    def __init__(self, kind: JobKind, job_id: str):
        reason = "REPORT_NOT_FOUND" if kind is JobKind.REPORT else "EXPORT_NOT_FOUND"
        super().__init__(f"{kind.value.capitalize()} not found: {job_id}", reason=reason, details={"id": job_id})


def object_key(job: Job, extension: str) -> str:
    """Where the file goes: one prefix per kind and organization (bucket policies and cleanup by prefix)."""
    return f"{job.kind.value}s/{job.organization_id}/{job.job_id}.{extension}"
