"""One device's job in a deployment, as the service stores it, and the rules of its status changes.

QUEUED → IN_PROGRESS → SUCCEEDED | FAILED | REJECTED, as the device reports (a device may also report a final
status straight from QUEUED, as with IoT Jobs). The service adds TIMED_OUT (the device went silent) and
CANCELED (emergency stop), and retries: a FAILED or TIMED_OUT job with attempts left goes back to QUEUED with
attempt + 1. REJECTED (the device refuses the image) is never retried. Every status change increases
version_number, on which the stores compare-and-set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.firmware.domain.rollout.deployment import FirmwareImage
from services.firmware.domain.rollout.job import (
    DEVICE_REPORTABLE,
    JobDocument,
    JobOperation,
    JobReport,
    JobStatus,
)

OPEN = frozenset({JobStatus.QUEUED, JobStatus.IN_PROGRESS})
RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.TIMED_OUT})

# Reasons a report is refused (JobReportOutcome.reason).
JOB_NOT_FOUND = "JOB_NOT_FOUND"
JOB_ALREADY_FINISHED = "JOB_ALREADY_FINISHED"
VERSION_MISMATCH = "VERSION_MISMATCH"
INVALID_STATUS = "INVALID_STATUS"


@dataclass(frozen=True)
class Job:
    job_id: str
    deployment_id: str
    org_id: str
    device_id: str
    batch_id: int
    operation: JobOperation
    image: FirmwareImage
    # The version the device ran when the deployment was created (what a rollback reinstalls).
    previous_version: str | None
    status: JobStatus
    attempt: int
    version_number: int
    queued_at: datetime
    updated_at: datetime
    status_details: Mapping[str, str] = field(default_factory=dict)
    # The attempt the JobChannel has accepted (0: never sent). A restarted orchestrator sends only
    # attempts above it, so no (job_id, attempt) goes out twice.
    notified_attempt: int = 0
    # The last sign of life of the current attempt: when it was sent, or the device's latest report.
    # The timeout runs from here, so a long install that keeps reporting IN_PROGRESS is not cut off.
    active_since: datetime | None = None

    @property
    def open(self) -> bool:
        return self.status in OPEN

    def retryable(self, max_retries: int) -> bool:
        return self.status in RETRYABLE and self.attempt <= max_retries

    def final(self, max_retries: int) -> bool:
        """Finished for good: not open and not about to be retried."""
        return not self.open and not self.retryable(max_retries)

    def waiting_to_be_sent(self) -> bool:
        return self.status is JobStatus.QUEUED and self.notified_attempt < self.attempt

    def timed_out(self, now: datetime, timeout_seconds: int) -> bool:
        """Sent, still open, and silent for longer than the timeout."""
        if not self.open or self.notified_attempt < self.attempt or self.active_since is None:
            return False
        return now - self.active_since >= timedelta(seconds=timeout_seconds)

    def document(self, download_url: str) -> JobDocument:
        return JobDocument(
            job_id=self.job_id,
            deployment_id=self.deployment_id,
            device_id=self.device_id,
            operation=self.operation,
            firmware_id=self.image.firmware_id,
            firmware_version=self.image.version,
            download_url=download_url,
            checksum=self.image.checksum,
            size=self.image.size,
            attempt=self.attempt,
            status=self.status,
            version_number=self.version_number,
        )


def _changed(job: Job, status: JobStatus, now: datetime, details: Mapping[str, str]) -> Job:
    return replace(
        job, status=status, status_details=dict(details), version_number=job.version_number + 1, updated_at=now
    )


def refusal(job: Job | None, report: JobReport) -> str | None:
    """Why the report cannot apply to the job (a JobReportOutcome reason), or None when it can."""
    if job is None or job.device_id != report.device_id:
        return JOB_NOT_FOUND
    if report.status not in DEVICE_REPORTABLE:
        return INVALID_STATUS
    if not job.open:
        return JOB_ALREADY_FINISHED
    if report.expected_version is not None and report.expected_version != job.version_number:
        return VERSION_MISMATCH
    return None


def apply_report(job: Job, report: JobReport, now: datetime) -> Job:
    """The job after an acceptable report (check `refusal` first)."""
    return replace(_changed(job, report.status, now, report.status_details), active_since=now)


def time_out(job: Job, now: datetime, timeout_seconds: int) -> Job:
    details = {"reason": f"no report for {timeout_seconds} s", "attempt": str(job.attempt)}
    return _changed(job, JobStatus.TIMED_OUT, now, details)


def retry(job: Job, now: datetime) -> Job:
    """Back to QUEUED as the next attempt; sent again by the orchestrator."""
    details = {"retryOf": job.status.value, "previousAttempt": str(job.attempt)}
    return replace(_changed(job, JobStatus.QUEUED, now, details), attempt=job.attempt + 1, active_since=None)


def cancel(job: Job, now: datetime, reason: str) -> Job:
    return _changed(job, JobStatus.CANCELED, now, {"reason": reason})


def notified(job: Job, now: datetime) -> Job:
    """The channel accepted the current attempt: not a status change, so version_number stays."""
    return replace(job, notified_attempt=job.attempt, active_since=now)


def new_job(
    *,
    job_id: str,
    deployment_id: str,
    org_id: str,
    device_id: str,
    batch_id: int,
    operation: JobOperation,
    image: FirmwareImage,
    previous_version: str | None,
    now: datetime,
) -> Job:
    return Job(
        job_id=job_id,
        deployment_id=deployment_id,
        org_id=org_id,
        device_id=device_id,
        batch_id=batch_id,
        operation=operation,
        image=image,
        previous_version=previous_version,
        status=JobStatus.QUEUED,
        attempt=1,
        version_number=1,
        queued_at=now,
        updated_at=now,
    )
