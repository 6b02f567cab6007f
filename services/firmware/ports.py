"""What the firmware domain needs from the outside world (adapters in services/firmware/adapters)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from services.firmware.domain.catalog.firmware import Firmware
from services.firmware.domain.catalog.listing import FirmwareFilter
from services.firmware.domain.catalog.objects import ObjectInfo, ScanVerdict, UploadTarget
from services.firmware.domain.rollout.deployment import Deployment
from services.firmware.domain.rollout.execution import Job
from services.firmware.domain.rollout.job import JobDocument, JobReport, JobReportOutcome
from services.firmware.domain.rollout.planning import Target
from services.firmware.domain.rollout.progress import DeploymentView, JobCount
from services.firmware.domain.rollout.queries import JobQuery
from services.firmware.domain.rollout.targets import TargetDevice
from services.firmware.domain.rollout.validation import DeploymentFilter, JobFilter
from services.kernel.pagination import Page, PageRequest

# ---------------------------------------------------------------------------------------------------------
# Firmware catalog: the records, the object store holding the images, the malware scanner, catalog events.
# ---------------------------------------------------------------------------------------------------------


class FirmwareStore(Protocol):
    async def add_unless_version_taken(self, firmware: Firmware, now: datetime) -> bool:
        """Store the new record unless, atomically, the organization has a record of the same version that
        still holds it (Firmware.holds_version at `now`). True when stored."""
        ...

    async def get(self, org_id: str, firmware_id: str) -> Firmware | None:
        """The organization's firmware; None when absent or another organization's."""
        ...

    async def find_version(self, org_id: str, version: str) -> Firmware | None:
        """The latest validated firmware of that version in the organization, or None."""
        ...

    async def find_by_object_key(self, object_key: str) -> Firmware | None:
        """The firmware whose image lives at that key (any organization): how an upload finds its record."""
        ...

    async def list(self, org_id: str, query: FirmwareFilter, page: PageRequest) -> Page[Firmware]:
        """The organization's matching firmware, newest first."""
        ...

    async def replace(self, firmware: Firmware, *, expected: Firmware) -> bool:
        """Compare-and-set: write `firmware` if the stored record still has expected's status and
        processing_started_at; False when someone else changed it first."""
        ...

    async def close(self) -> None: ...


class ObjectStore(Protocol):
    async def presign_upload(
        self, key: str, *, max_bytes: int, expires_in: float, metadata: Mapping[str, str] | None = None
    ) -> UploadTarget:
        """A target for a multipart/form-data POST (S3 presigned POST semantics) of at most max_bytes at key,
        valid for expires_in seconds; `metadata` goes with the form as x-amz-meta-* fields the policy pins."""
        ...

    async def presign_download(self, key: str, *, expires_in: float) -> str:
        """A URL anyone holding it may GET the object from, for expires_in seconds."""
        ...

    def chunks(self, key: str, *, chunk_size: int = ...) -> AsyncIterator[bytes]:
        """The object's bytes, streamed (never the whole object in memory)."""
        ...

    async def head(self, key: str) -> ObjectInfo | None:
        """Size and time of the object, or None when there is no such object."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; nothing happens when it is absent."""
        ...

    async def close(self) -> None: ...


class ScanSession(Protocol):
    async def send(self, chunk: bytes) -> None: ...

    async def verdict(self) -> ScanVerdict:
        """Ends the stream and returns the scanner's answer."""
        ...

    async def abort(self) -> None: ...


class MalwareScanner(Protocol):
    async def open(self) -> ScanSession:
        """Start scanning one object, fed chunk by chunk as it is read."""
        ...


class CatalogEvents(Protocol):
    async def validated(self, firmware: Firmware) -> None:
        """Processing finished: the firmware is validated or rejected (routing key firmware.validated)."""
        ...


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


# ---------------------------------------------------------------------------------------------------------
# Rollouts: deployments, their jobs and the orchestrator's lease (services/firmware/domain/rollout).
# ---------------------------------------------------------------------------------------------------------


class FirmwareLookup(Protocol):
    """The catalog as the rollout sees it (H1's firmware store satisfies it)."""

    async def get(self, org_id: str, firmware_id: str) -> Firmware | None: ...

    async def find_version(self, org_id: str, version: str) -> Firmware | None:
        """The organization's firmware of that version (a rollback reinstalls it), or None."""
        ...


class DownloadLinks(Protocol):
    async def url_for(self, object_key: str) -> str:
        """A URL a device can download the object from (presigned for a while in production)."""
        ...


class RolloutEvents(Protocol):
    async def job_status_changed(self, job: Job) -> None: ...

    async def deployment_changed(self, view: DeploymentView) -> None: ...


class DeploymentStore(Protocol):
    """Deployments, their targets and jobs. Deployment saves compare-and-set on `revision`, job saves on
    `version_number`, so replicas applying reports and the orchestrator cannot clobber one another."""

    async def add_deployment(self, deployment: Deployment, targets: Sequence[Target]) -> None: ...

    async def get_deployment(self, deployment_id: str) -> Deployment | None: ...

    async def save_deployment(
        self, deployment: Deployment, *, expected_revision: int, new_jobs: Sequence[Job] = ()
    ) -> bool:
        """Store it if the stored one is still at expected_revision, adding new_jobs in the same transaction
        (a job already there for its deployment, device and operation is kept); False when it moved on."""
        ...

    async def list_deployments(self, org_id: str, query: DeploymentFilter, page: PageRequest) -> Page[Deployment]: ...

    async def deployments_to_drive(self, now: datetime) -> list[str]:
        """In progress or rolling back, scheduled and due, or holding open jobs they should not (stopped
        deployments; install jobs of a deployment rolling back)."""
        ...

    async def targets_of_batch(self, deployment_id: str, batch_id: int) -> list[Target]: ...

    async def get_job(self, job_id: str) -> Job | None: ...

    async def save_job(self, job: Job, *, expected_version: int) -> bool: ...

    async def mark_notified(self, job_id: str, attempt: int, at: datetime) -> bool:
        """Record that the channel accepted this attempt (unless the job moved to another attempt)."""
        ...

    async def jobs(self, deployment_id: str, query: JobQuery) -> list[Job]: ...

    async def list_jobs(self, deployment_id: str, query: JobFilter, page: PageRequest) -> Page[Job]: ...

    async def job_counts(self, deployment_id: str) -> list[JobCount]: ...

    async def open_jobs_of_device(self, device_id: str) -> list[Job]:
        """QUEUED and IN_PROGRESS jobs of the device, oldest first."""
        ...


class Leases(Protocol):
    """Named leases on the store's own clock, so that replicas with skewed clocks agree on expiry."""

    async def try_acquire(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take the lease if it is free, expired, or already ours (then it is extended)."""
        ...

    async def renew(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Extend our lease; False when another holder has taken it."""
        ...

    async def release(self, name: str, holder: str) -> None: ...
