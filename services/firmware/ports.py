"""What the firmware domain needs from the outside world (adapters in services/firmware/adapters)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.firmware.domain.rollout.job import JobDocument, JobReport, JobReportOutcome
from services.firmware.domain.rollout.targets import TargetDevice

# ---------------------------------------------------------------------------------------------------------
# Device jobs: how a job reaches a device and how its reports come back (MQTT job topics, AWS IoT Jobs).
# ---------------------------------------------------------------------------------------------------------


class JobHandler(Protocol):
    """The service side of a job channel: applies reports and answers "what is my next job?"."""

    async def on_report(self, report: JobReport) -> JobReportOutcome: ...

    async def next_job(self, device_id: str) -> JobDocument | None:
        """The device's oldest unfinished job (IN_PROGRESS first, then QUEUED), or None."""
        ...


class JobChannel(Protocol):
    async def start(self, handler: JobHandler) -> None:
        """Begin receiving device reports (and `get` requests) and pass them to the handler."""
        ...

    async def notify(self, jobs: Sequence[JobDocument]) -> None:
        """Tell each job's device that the job waits. Idempotent per (job_id, attempt): a device sees it once."""
        ...

    async def cancel(self, jobs: Sequence[JobDocument]) -> None:
        """Tell the devices these jobs are cancelled (emergency stop)."""
        ...

    async def close(self) -> None: ...


class DeviceDirectory(Protocol):
    async def lookup(self, org_id: str, device_ids: Sequence[str]) -> dict[str, TargetDevice]:
        """The devices among device_ids that exist in org_id (others, and other organizations', are absent)."""
        ...
