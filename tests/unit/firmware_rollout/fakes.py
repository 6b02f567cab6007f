"""Stand-ins for the rollout's peers: a clock that moves when told, the catalog, the device directory, a job
channel that records what it was asked to send, download links and recorded events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from services.firmware.adapters.rollout_memory import InMemoryDeploymentStore
from services.firmware.domain.catalog.firmware import Firmware, FirmwareStatus
from services.firmware.domain.rollout.commands import CreateDeployment
from services.firmware.domain.rollout.execution import Job
from services.firmware.domain.rollout.job import JobDocument, JobReport, JobStatus
from services.firmware.domain.rollout.progress import DeploymentView
from services.firmware.domain.rollout.service import RolloutService
from services.firmware.domain.rollout.targets import TargetDevice
from services.firmware.ports import DeploymentStore, JobHandler
from services.kernel.caller import Caller, Role

T0 = datetime(2025, 11, 15, 14, 0, tzinfo=UTC)
ORG = "org-1"
OPERATOR = Caller("user-op", ORG, Role.OPERATOR)
VIEWER = Caller("user-view", ORG, Role.VIEWER)
OTHER_ORG = Caller("user-x", "org-2", Role.ADMIN)
DEVICE_TYPE = "sensor-v2"


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def a_firmware(
    firmware_id: str = "fw-new",
    version: str = "v2.1.0",
    status: FirmwareStatus = FirmwareStatus.VALIDATED,
    device_types: tuple[str, ...] = (DEVICE_TYPE,),
    org_id: str = ORG,
) -> Firmware:
    validated = status is FirmwareStatus.VALIDATED
    return Firmware(
        firmware_id=firmware_id,
        org_id=org_id,
        version=version,
        device_types=device_types,
        release_notes="",
        status=status,
        object_key=f"firmware/{firmware_id}.bin",
        uploaded_by="user-admin",
        created_at=T0 - timedelta(days=1),
        checksum="ab" * 32 if validated else None,
        size=1024 if validated else None,
        validated_at=T0 if validated else None,
    )


class FakeCatalog:
    def __init__(self, *firmware: Firmware) -> None:
        self.items = list(firmware)

    async def get(self, org_id: str, firmware_id: str) -> Firmware | None:
        return next((f for f in self.items if f.org_id == org_id and f.firmware_id == firmware_id), None)

    async def find_version(self, org_id: str, version: str) -> Firmware | None:
        return next(
            (
                f
                for f in self.items
                if f.org_id == org_id and f.version == version and f.status is FirmwareStatus.VALIDATED
            ),
            None,
        )


class FakeDevices:
    def __init__(self, devices: Sequence[TargetDevice] = (), org_id: str = ORG) -> None:
        self.org_id = org_id
        self.devices = {d.device_id: d for d in devices}

    async def lookup(self, org_id: str, device_ids: Sequence[str]) -> dict[str, TargetDevice]:
        if org_id != self.org_id:
            return {}
        return {d: self.devices[d] for d in device_ids if d in self.devices}


def fleet(count: int, previous: str | None = "v2.0.0", device_type: str = DEVICE_TYPE) -> list[TargetDevice]:
    return [TargetDevice(f"dev-{i:03d}", device_type, previous, online=i % 7 != 0) for i in range(count)]


class RecordingChannel:
    """A JobChannel test double: records every (job_id, attempt) it is asked to send, and every cancel."""

    def __init__(self, sent: list[tuple[str, int]] | None = None) -> None:
        self.sent = sent if sent is not None else []
        self.documents: list[JobDocument] = []
        self.cancelled: list[str] = []
        self.failures = 0

    async def start(self, handler: JobHandler) -> None:
        return None

    async def notify(self, jobs: Sequence[JobDocument]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unavailable")
        self.sent.extend((j.job_id, j.attempt) for j in jobs)
        self.documents.extend(jobs)

    async def cancel(self, jobs: Sequence[JobDocument]) -> None:
        self.cancelled.extend(j.job_id for j in jobs)

    async def close(self) -> None:
        return None


class Links:
    async def url_for(self, object_key: str) -> str:
        return f"https://downloads.example/{object_key}"


class RecordingEvents:
    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.deployments: list[DeploymentView] = []

    async def job_status_changed(self, job: Job) -> None:
        self.jobs.append(job)

    async def deployment_changed(self, view: DeploymentView) -> None:
        self.deployments.append(view)


class Rig:
    """A RolloutService on a store with fakes around it, and helpers that play the devices."""

    def __init__(
        self,
        devices: Sequence[TargetDevice],
        *,
        firmware: Sequence[Firmware] = (),
        clock: FakeClock | None = None,
        store: DeploymentStore | None = None,
        channel: RecordingChannel | None = None,
    ) -> None:
        self.clock = clock or FakeClock()
        self.store = store or InMemoryDeploymentStore(self.clock)
        self.channel = channel or RecordingChannel()
        self.events = RecordingEvents()
        self.last_refusal: tuple[str | None, object] | None = None  # why the last report() was refused
        self.catalog = FakeCatalog(*(firmware or (a_firmware(), a_firmware("fw-old", "v2.0.0"))))
        self.service = RolloutService(
            self.store, self.catalog, FakeDevices(devices), self.channel, Links(), self.events, self.clock
        )

    async def create(self, devices: Sequence[str], **options: object) -> str:
        command = CreateDeployment(firmware_id="fw-new", target_devices=list(devices), strategy="staged", **options)  # type: ignore[arg-type]
        view = await self.service.create_deployment(OPERATOR, command)
        return view.deployment.deployment_id

    async def report(self, job_id: str, device_id: str, status: JobStatus) -> bool:
        outcome = await self.service.on_report(JobReport(job_id, device_id, status, self.clock.now()))
        self.last_refusal = None if outcome.accepted else (outcome.reason, outcome.job)  # for messages
        return outcome.accepted

    async def answer_sent(
        self,
        status_of: dict[str, JobStatus] | None = None,
        default: JobStatus = JobStatus.SUCCEEDED,
        silent: frozenset[str] = frozenset(),
    ) -> int:
        """Every device whose job was sent and is still open answers IN_PROGRESS then its final status."""
        answered = 0
        for doc in list(self.channel.documents):
            job = await self.store.get_job(doc.job_id)
            if job is None or not job.open or job.attempt != doc.attempt or doc.device_id in silent:
                continue
            await self.report(doc.job_id, doc.device_id, JobStatus.IN_PROGRESS)
            await self.report(doc.job_id, doc.device_id, (status_of or {}).get(doc.device_id, default))
            answered += 1
        return answered
