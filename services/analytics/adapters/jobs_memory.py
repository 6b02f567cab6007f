"""The in-memory JobStore (tests, demos): the same claims and fences as the SQLite store, in one process."""

from __future__ import annotations

from dataclasses import replace

from services.analytics.domain.jobs import Job, JobKind, JobStatus


class InMemoryJobStore:
    def __init__(self) -> None:
        self._jobs: dict[tuple[JobKind, str], Job] = {}

    async def close(self) -> None:
        return None

    async def add(self, job: Job) -> None:
        self._jobs[(job.kind, job.job_id)] = job

    async def get(self, kind: JobKind, job_id: str) -> Job | None:
        return self._jobs.get((kind, job_id))

    async def claim(self, kind: JobKind, job_id: str, now_ms: int, lease_ms: int) -> Job | None:
        job = self._jobs.get((kind, job_id))
        if job is None or not _claimable(job, now_ms):
            return None
        claimed = replace(job, status=JobStatus.RUNNING, attempt=job.attempt + 1, lease_until_ms=now_ms + lease_ms)
        self._jobs[(kind, job_id)] = claimed
        return claimed

    async def renew(self, kind: JobKind, job_id: str, attempt: int, until_ms: int) -> bool:
        job = self._jobs.get((kind, job_id))
        if job is None or job.attempt != attempt or job.status is not JobStatus.RUNNING:
            return False
        self._jobs[(kind, job_id)] = replace(job, lease_until_ms=until_ms)
        return True

    async def finish(self, kind: JobKind, job_id: str, attempt: int, finished: Job) -> bool:
        job = self._jobs.get((kind, job_id))
        if job is None or job.attempt != attempt or job.status is not JobStatus.RUNNING:
            return False
        self._jobs[(kind, job_id)] = replace(finished, attempt=attempt, lease_until_ms=None)
        return True

    async def stale(self, now_ms: int, queued_before_ms: int, limit: int) -> list[Job]:
        found = [
            job
            for job in self._jobs.values()
            if (job.status is JobStatus.RUNNING and (job.lease_until_ms or 0) < now_ms)
            or (job.status is JobStatus.QUEUED and job.created_at_ms < queued_before_ms)
        ]
        return sorted(found, key=lambda job: job.created_at_ms)[:limit]

    async def count_waiting(self, kind: JobKind) -> int:
        waiting = (JobStatus.QUEUED, JobStatus.RUNNING)
        return sum(1 for job in self._jobs.values() if job.kind is kind and job.status in waiting)


def _claimable(job: Job, now_ms: int) -> bool:
    if job.status is JobStatus.QUEUED:
        return True
    return job.status is JobStatus.RUNNING and (job.lease_until_ms or 0) < now_ms
