"""A simulated device taking firmware jobs: the behaviour docs/device-jobs.md asks of real device firmware.

On a job: report IN_PROGRESS (naming the version it saw), download the image and check its SHA-256, "install"
for a while, fail with the configured probability (FAILED with a reason), else "reboot" (the job link goes
away for reboot_seconds), reconnect, ask for the next job, and report SUCCEEDED only if that is still this
job; from then on the device runs the new version. A cancellation stops the work at the next step.

The transport is a JobLink (MQTT job topics or the HTTP fallback, iotmon/simulate/jobs.py); everything else
here is plain asyncio and testable with a fake link.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

PENDING = ("QUEUED", "IN_PROGRESS")


@dataclass(frozen=True)
class Execution:
    """A job execution as the device sees it (notify-next, `$next/get`, or the HTTP poll)."""

    job_id: str
    status: str
    version_number: int
    attempt: int
    firmware_version: str
    url: str = ""
    sha256: str = ""
    size: int = 0
    operation: str = "install"


@dataclass(frozen=True)
class Answer:
    accepted: bool
    version_number: int | None = None
    code: str | None = None  # VersionMismatch, TerminalStateReached, ... when refused


class JobLink(Protocol):
    """How one device talks to the job service."""

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def next_job(self) -> Execution | None:
        """Ask the service for this device's next job (MQTT `$next/get`, HTTP GET .../jobs)."""
        ...

    async def wait_for_job(self) -> Execution | None:
        """Wait until a job may be waiting (a notification, or the next poll) and return it."""
        ...

    async def report(
        self, job_id: str, status: str, details: dict[str, str], expected_version: int | None
    ) -> Answer: ...

    def cancelled(self, job_id: str) -> bool:
        """Whether the service told the device to stop working on this job."""
        ...


@dataclass(frozen=True)
class Behaviour:
    install_seconds: float = 5.0  # mean; each install takes 0.5-1.5 times it
    failure_rate: float = 0.0
    reboot_seconds: float = 2.0


@dataclass
class JobCounts:
    """Shown on the progress line: devices installing now, and jobs finished."""

    installing: int = 0
    succeeded: int = 0
    failed: int = 0
    refused: int = 0  # a report the service refused (a cancelled or superseded job)

    def line(self) -> str:
        return f"jobs: installing {self.installing:,}  succeeded {self.succeeded:,}  failed {self.failed:,}" + (
            f"  refused {self.refused:,}" if self.refused else ""
        )


class Cancelled(Exception):
    """The service cancelled the job the device was working on."""


Download = Callable[[str], Awaitable[bytes]]


@dataclass
class FirmwareDevice:
    device_id: str
    link: JobLink
    download: Download
    behaviour: Behaviour
    counts: JobCounts
    firmware_version: str = "v1.0.0"
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    finished: set[str] = field(default_factory=set)  # job ids this device is done with (any outcome)
    previous_version: str | None = None

    async def run(self) -> None:
        """Boot, ask for work, then take each job as it comes; until cancelled."""
        await self.link.connect()
        execution = await self.link.next_job()
        while True:
            if execution is not None and execution.job_id not in self.finished and execution.status in PENDING:
                await self.take(execution)
                execution = None  # ask again: a notification may have arrived meanwhile
                continue
            execution = await self.link.wait_for_job()

    async def take(self, execution: Execution) -> str:
        """Work one job to its end; returns the status reported last (or why it stopped)."""
        self.counts.installing += 1
        try:
            return await self._take(execution)
        except Cancelled:
            return "CANCELED"
        finally:
            self.counts.installing -= 1
            self.finished.add(execution.job_id)

    async def _take(self, execution: Execution) -> str:
        job_id = execution.job_id
        answer = await self.link.report(job_id, "IN_PROGRESS", {"step": "downloading"}, execution.version_number)
        if not answer.accepted:
            self.counts.refused += 1
            return answer.code or "REFUSED"
        version = answer.version_number
        problem = await self._fetch(execution)
        self._check(job_id)
        if problem is None:
            await self.sleep(self.behaviour.install_seconds * self.rng.uniform(0.5, 1.5))
            self._check(job_id)
            if self.rng.random() < self.behaviour.failure_rate:
                problem = "install failed (simulated)"
        if problem is not None:
            return await self._finish(job_id, "FAILED", {"reason": problem}, version)
        # Reboot into the new image: the link goes away and comes back, then the device asks where it stands.
        await self.link.disconnect()
        await self.sleep(self.behaviour.reboot_seconds)
        await self.link.connect()
        current = await self.link.next_job()
        if current is None or current.job_id != job_id:
            raise Cancelled  # cancelled (or replaced) while rebooting: keep the old version
        self.previous_version, self.firmware_version = self.firmware_version, execution.firmware_version
        return await self._finish(job_id, "SUCCEEDED", {"version": self.firmware_version}, current.version_number)

    async def _fetch(self, execution: Execution) -> str | None:
        """None when the image is fine (or there is nothing to download), else why it is not."""
        if not execution.url:
            return None
        try:
            image = await self.download(execution.url)
        except Exception as error:  # any download failure is reported, never raised
            return f"download failed: {type(error).__name__}"
        if execution.sha256 and hashlib.sha256(image).hexdigest() != execution.sha256.lower():
            return "checksum mismatch"
        if execution.size and len(image) != execution.size:
            return f"size mismatch: {len(image)} bytes, expected {execution.size}"
        return None

    async def _finish(self, job_id: str, status: str, details: dict[str, str], version: int | None) -> str:
        answer = await self.link.report(job_id, status, details, version)
        if not answer.accepted:
            self.counts.refused += 1
            return answer.code or "REFUSED"
        if status == "SUCCEEDED":
            self.counts.succeeded += 1
        else:
            self.counts.failed += 1
        return status

    def _check(self, job_id: str) -> None:
        if self.link.cancelled(job_id):
            raise Cancelled
