"""A DeploymentStore (and Leases) in memory: for tests and demos; forgets everything on restart.

Every method runs without awaiting, so on one event loop each is atomic like the SQL stores' transactions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from services.firmware.domain.rollout.deployment import Deployment, DeploymentStatus
from services.firmware.domain.rollout.execution import OPEN, Job
from services.firmware.domain.rollout.planning import Target
from services.firmware.domain.rollout.progress import JobCount
from services.firmware.domain.rollout.queries import JobQuery, matches
from services.firmware.domain.rollout.validation import DeploymentFilter, JobFilter
from services.kernel.clock import Clock, SystemClock
from services.kernel.pagination import Page, PageRequest


class InMemoryDeploymentStore:
    def __init__(self, clock: Clock | None = None) -> None:
        # The "store's clock" of the leases (SQL now() in the other stores).
        self._clock = clock or SystemClock()
        self._deployments: dict[str, Deployment] = {}
        self._targets: dict[str, list[Target]] = {}
        self._jobs: dict[str, Job] = {}
        self._job_keys: set[tuple[str, str, str]] = set()
        self._leases: dict[str, tuple[str, datetime]] = {}

    async def close(self) -> None:
        return None

    # Deployments.

    async def add_deployment(self, deployment: Deployment, targets: Sequence[Target]) -> None:
        self._deployments[deployment.deployment_id] = deployment
        self._targets[deployment.deployment_id] = list(targets)

    async def get_deployment(self, deployment_id: str) -> Deployment | None:
        return self._deployments.get(deployment_id)

    async def save_deployment(
        self, deployment: Deployment, *, expected_revision: int, new_jobs: Sequence[Job] = ()
    ) -> bool:
        stored = self._deployments.get(deployment.deployment_id)
        if stored is None or stored.revision != expected_revision:
            return False
        self._deployments[deployment.deployment_id] = deployment
        for job in new_jobs:
            key = (job.deployment_id, job.device_id, job.operation.value)
            if key not in self._job_keys:
                self._job_keys.add(key)
                self._jobs[job.job_id] = job
        return True

    async def list_deployments(self, org_id: str, query: DeploymentFilter, page: PageRequest) -> Page[Deployment]:
        found = [
            d
            for d in self._deployments.values()
            if d.org_id == org_id
            and (query.status is None or d.status is query.status)
            and (query.firmware_id is None or d.firmware_id == query.firmware_id)
        ]
        found.sort(key=lambda d: (d.created_at, d.deployment_id), reverse=True)
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def deployments_to_drive(self, now: datetime) -> list[str]:
        ids = {
            d.deployment_id
            for d in self._deployments.values()
            if d.status.driven
            or (d.status is DeploymentStatus.SCHEDULED and d.scheduled_start is not None and d.scheduled_start <= now)
        }
        for job in self._jobs.values():
            d = self._deployments[job.deployment_id]
            if job.status in OPEN and (not d.status.driven or job.operation is not d.operation):
                ids.add(d.deployment_id)
        return sorted(ids)

    async def targets_of_batch(self, deployment_id: str, batch_id: int) -> list[Target]:
        return [t for t in self._targets.get(deployment_id, []) if t.batch_id == batch_id]

    # Jobs.

    async def get_job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def save_job(self, job: Job, *, expected_version: int) -> bool:
        stored = self._jobs.get(job.job_id)
        if stored is None or stored.version_number != expected_version:
            return False
        self._jobs[job.job_id] = job
        return True

    async def mark_notified(self, job_id: str, attempt: int, at: datetime) -> bool:
        stored = self._jobs.get(job_id)
        if stored is None or stored.attempt != attempt:
            return False
        self._jobs[job_id] = replace(stored, notified_attempt=attempt, active_since=at)
        return True

    async def jobs(self, deployment_id: str, query: JobQuery) -> list[Job]:
        found = [
            j
            for j in self._jobs.values()
            if j.deployment_id == deployment_id
            and matches(query, j.status, j.operation, j.attempt, j.notified_attempt, j.active_since)
        ]
        return sorted(found, key=lambda j: (j.batch_id, j.device_id, j.operation.value))

    async def list_jobs(self, deployment_id: str, query: JobFilter, page: PageRequest) -> Page[Job]:
        found = [
            j
            for j in self._jobs.values()
            if j.deployment_id == deployment_id
            and (query.status is None or j.status is query.status)
            and (query.batch_id is None or j.batch_id == query.batch_id)
        ]
        found.sort(key=lambda j: (j.batch_id, j.operation.value, j.device_id))
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def job_counts(self, deployment_id: str) -> list[JobCount]:
        counter = Counter(
            (j.batch_id, j.operation, j.status, j.attempt)
            for j in self._jobs.values()
            if j.deployment_id == deployment_id
        )
        return [JobCount(b, o, s, a, n) for (b, o, s, a), n in sorted(counter.items())]

    async def open_jobs_of_device(self, device_id: str) -> list[Job]:
        found = [j for j in self._jobs.values() if j.device_id == device_id and j.status in OPEN]
        return sorted(found, key=lambda j: (j.queued_at, j.job_id))

    # Leases.

    async def try_acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        now = self._clock.now()
        current = self._leases.get(name)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self._leases[name] = (holder, now + timedelta(seconds=ttl_seconds))
        return True

    async def renew(self, name: str, holder: str, ttl_seconds: float) -> bool:
        current = self._leases.get(name)
        if current is None or current[0] != holder:
            return False
        self._leases[name] = (holder, self._clock.now() + timedelta(seconds=ttl_seconds))
        return True

    async def release(self, name: str, holder: str) -> None:
        current = self._leases.get(name)
        if current is not None and current[0] == holder:
            del self._leases[name]
