"""Device jobs, modelled on AWS IoT Jobs executions: what a device is told and what it reports back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.IN_PROGRESS)


# What a device may report; the others are decided by the service.
DEVICE_REPORTABLE = frozenset({JobStatus.IN_PROGRESS, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.REJECTED})


class JobOperation(StrEnum):
    INSTALL = "install"
    # Reinstall the version the device ran before the deployment.
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class JobDocument:
    """What a device receives: enough to download, verify and install the image, and to report back."""

    job_id: str
    deployment_id: str
    device_id: str
    operation: JobOperation
    firmware_id: str
    firmware_version: str
    download_url: str
    # SHA-256 hex digest and size in bytes of the image at download_url.
    checksum: str
    size: int
    # 1 on the first send; a retry after a failure or a timeout sends the same job_id with attempt + 1.
    attempt: int
    status: JobStatus
    # Increases on every status change; a report naming another expected version is refused.
    version_number: int


@dataclass(frozen=True)
class JobReport:
    """A device's report on one job (MQTT `update` topic, IoT Jobs, or the HTTP fallback)."""

    job_id: str
    device_id: str
    status: JobStatus
    reported_at: datetime
    status_details: Mapping[str, str] = field(default_factory=dict)
    expected_version: int | None = None


@dataclass(frozen=True)
class JobReportOutcome:
    """The answer to a report: accepted with the job as it now stands, or refused with a reason code."""

    accepted: bool
    job: JobDocument | None
    # Set when refused: JOB_NOT_FOUND, JOB_ALREADY_FINISHED, VERSION_MISMATCH or INVALID_STATUS.
    reason: str | None = None
