"""A JobHandler test double that behaves like the rollout's: versions, terminal states, next job per device."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime

from services.firmware.domain.rollout.job import (
    JobDocument,
    JobOperation,
    JobReport,
    JobReportOutcome,
    JobStatus,
)

ORDER = {JobStatus.IN_PROGRESS: 0, JobStatus.QUEUED: 1}


def make_job(
    device_id: str,
    job_id: str = "job-1",
    *,
    attempt: int = 1,
    version: str = "v2.0.0",
    url: str = "",
    checksum: str = "",
    size: int = 0,
    operation: JobOperation = JobOperation.INSTALL,
) -> JobDocument:
    return JobDocument(
        job_id=job_id,
        deployment_id="dep-1",
        device_id=device_id,
        operation=operation,
        firmware_id="fw-1",
        firmware_version=version,
        download_url=url,
        checksum=checksum,
        size=size,
        attempt=attempt,
        status=JobStatus.QUEUED,
        version_number=1,
    )


class FakeJobHandler:
    """Keeps jobs in a dict; records every report it is given (accepted or not) and wakes waiters."""

    def __init__(self, jobs: Iterable[JobDocument] = ()) -> None:
        self.jobs: dict[str, JobDocument] = {job.job_id: job for job in jobs}
        self.reports: list[JobReport] = []
        self.next_job_calls: list[str] = []
        self._changed = asyncio.Condition()

    def add(self, job: JobDocument) -> JobDocument:
        self.jobs[job.job_id] = job
        return job

    def cancel(self, job_id: str) -> JobDocument:
        job = self.jobs[job_id] = dataclasses.replace(
            self.jobs[job_id], status=JobStatus.CANCELED, version_number=self.jobs[job_id].version_number + 1
        )
        return job

    async def on_report(self, report: JobReport) -> JobReportOutcome:
        async with self._changed:
            self.reports.append(report)
            self._changed.notify_all()
            job = self.jobs.get(report.job_id)
            if job is None or job.device_id != report.device_id:
                return JobReportOutcome(False, None, "JOB_NOT_FOUND")
            if job.status.terminal:
                return JobReportOutcome(False, job, "JOB_ALREADY_FINISHED")
            if report.expected_version is not None and report.expected_version != job.version_number:
                return JobReportOutcome(False, job, "VERSION_MISMATCH")
            job = self.jobs[job.job_id] = dataclasses.replace(
                job, status=report.status, version_number=job.version_number + 1
            )
            return JobReportOutcome(True, job)

    async def next_job(self, device_id: str) -> JobDocument | None:
        self.next_job_calls.append(device_id)
        pending = [j for j in self.jobs.values() if j.device_id == device_id and not j.status.terminal]
        return min(pending, key=lambda j: ORDER[j.status]) if pending else None

    async def wait_for_reports(self, count: int, seconds: float = 10.0) -> list[JobReport]:
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(lambda: len(self.reports) >= count)
        return self.reports

    async def wait_for_status(self, job_id: str, status: JobStatus, seconds: float = 15.0) -> JobDocument:
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(lambda: self.jobs[job_id].status is status)
        return self.jobs[job_id]


def now() -> datetime:
    return datetime.now(UTC)
