"""The embedded default job channel when no broker is configured: devices poll the HTTP fallback.

Devices ask GET /firmware/devices/{id}/jobs and report with POST …/jobs/{jobId} (GetPendingJobs and
UpdateJobExecution go straight to the RolloutService), so there is nobody to push to: notify and cancel only
remember what they were given — the store already holds every job, and a device learns of a cancellation when
its next report is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.firmware.domain.rollout.job import JobDocument
from services.firmware.ports import JobHandler

log = logging.getLogger("iotmon.firmware.jobs.poll")


class PollOnlyJobChannel:
    """JobChannel with nothing to push to; idempotent per (job_id, attempt) like the others."""

    def __init__(self) -> None:
        self.notified: set[tuple[str, int]] = set()
        self.cancelled: set[tuple[str, int]] = set()
        self.handler: JobHandler | None = None

    async def start(self, handler: JobHandler) -> None:
        self.handler = handler
        log.info("no MQTT broker or IoT Jobs configured: devices poll the HTTP fallback for firmware jobs")

    async def notify(self, jobs: Sequence[JobDocument]) -> None:
        self.notified.update((job.job_id, job.attempt) for job in jobs)

    async def cancel(self, jobs: Sequence[JobDocument]) -> None:
        self.cancelled.update((job.job_id, job.attempt) for job in jobs)

    async def close(self) -> None:
        self.handler = None
