"""The rollout use cases (spec §3.4.4–6, §4.6–4.7): deployments, cancel, rollback, jobs and device reports.

RolloutService is also the JobHandler the job channels feed (`on_report`, `next_job`), and what the
orchestrator drives (`deployments_to_drive`, `advance`). Reports may be applied by any replica (the store
compare-and-sets each job); only the orchestrator holding the lease calls `advance`, which makes the
batch decisions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.firmware.domain.rollout import decisions, queries
from services.firmware.domain.rollout.commands import CreateDeployment, ListDeployments, ListJobs, UpdateJob
from services.firmware.domain.rollout.decisions import Step
from services.firmware.domain.rollout.deployment import (
    Deployment,
    DeploymentStatus,
    FirmwareImage,
    ScheduleType,
)
from services.firmware.domain.rollout.errors import (
    DeploymentChangedConcurrently,
    DeploymentNotFound,
    DeploymentStateConflict,
    JobNotFound,
    JobReportRefused,
)
from services.firmware.domain.rollout.execution import (
    JOB_NOT_FOUND,
    VERSION_MISMATCH,
    Job,
    apply_report,
    refusal,
    retry,
    time_out,
)
from services.firmware.domain.rollout.execution import cancel as cancel_job
from services.firmware.domain.rollout.job import JobDocument, JobOperation, JobReport, JobReportOutcome, JobStatus
from services.firmware.domain.rollout.planning import install_jobs, plan_targets, rollback_jobs
from services.firmware.domain.rollout.progress import DeploymentView, view
from services.firmware.domain.rollout.validation import (
    check_firmware,
    check_targets,
    image_of,
    parse_create,
    parse_deployment_query,
    parse_job_query,
)
from services.firmware.ports import (
    DeploymentStore,
    DeviceDirectory,
    DownloadLinks,
    FirmwareLookup,
    JobChannel,
    RolloutEvents,
)
from services.kernel.caller import Caller, Role
from services.kernel.clock import Clock, SystemClock
from services.kernel.errors import ValidationFailed
from services.kernel.ids import new_id
from services.kernel.pagination import Page

log = logging.getLogger("iotmon.firmware.rollout")

# A report meeting a concurrent change of the same job is tried again on the fresh job.
MAX_ATTEMPTS = 3
ROLLBACK_ALLOWED = frozenset(
    {DeploymentStatus.IN_PROGRESS, DeploymentStatus.HALTED, DeploymentStatus.CANCELLED, DeploymentStatus.COMPLETED}
)
CANCELLABLE = frozenset({DeploymentStatus.SCHEDULED, DeploymentStatus.IN_PROGRESS, DeploymentStatus.ROLLING_BACK})


@dataclass(frozen=True)
class PendingJobs:
    """A device's unfinished jobs, oldest first (GetPendingJobs)."""

    in_progress: list[Job]
    queued: list[Job]


class RolloutService:
    def __init__(
        self,
        store: DeploymentStore,
        firmware: FirmwareLookup,
        devices: DeviceDirectory,
        channel: JobChannel,
        links: DownloadLinks,
        events: RolloutEvents,
        clock: Clock | None = None,
    ):
        self._store = store
        self._firmware = firmware
        self._devices = devices
        self._channel = channel
        self._links = links
        self._events = events
        self._clock = clock or SystemClock()
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` (the local orchestrator's wake) after every accepted report or deployment change."""
        self._listeners.append(listener)

    # Deployments (§3.4.4–6), cancel and rollback.

    async def create_deployment(self, caller: Caller, command: CreateDeployment) -> DeploymentView:
        caller.require(Role.OPERATOR, "create a deployment")
        now = self._clock.now()
        plan = parse_create(command, now)
        found_firmware = await self._firmware.get(caller.organization_id, plan.firmware_id)
        firmware, image = check_firmware(plan.firmware_id, found_firmware)
        found = await self._devices.lookup(caller.organization_id, plan.device_ids)
        devices = check_targets(plan.device_ids, found, firmware)
        scheduled = plan.schedule_type is ScheduleType.SCHEDULED
        deployment = Deployment(
            deployment_id=new_id("dep"),
            org_id=caller.organization_id,
            image=image,
            strategy=plan.strategy,
            batch_size=plan.batch_size,
            target_count=len(devices),
            status=DeploymentStatus.SCHEDULED,
            success_threshold=plan.success_threshold,
            job_timeout_seconds=plan.job_timeout_seconds,
            max_retries=plan.max_retries,
            schedule_type=plan.schedule_type,
            # An immediate deployment is a scheduled one that is due now: the orchestrator starts both.
            scheduled_start=plan.start_time if scheduled else now,
            created_by=caller.user_id,
            created_at=now,
        )
        await self._store.add_deployment(deployment, plan_targets(plan.strategy, plan.batch_size, devices))
        result = view(deployment, [])
        await self._events.deployment_changed(result)
        self._wake()
        return result

    async def get_deployment(self, caller: Caller, deployment_id: str) -> DeploymentView:
        return await self._view(await self._deployment(caller, deployment_id))

    async def list_deployments(self, caller: Caller, command: ListDeployments) -> Page[DeploymentView]:
        query, page = parse_deployment_query(command)
        found = await self._store.list_deployments(caller.organization_id, query, page)
        return Page([await self._view(d) for d in found.items], found.request, found.total_items)

    async def cancel(self, caller: Caller, deployment_id: str, reason: str | None = None) -> DeploymentView:
        """Emergency stop: no new jobs; QUEUED and IN_PROGRESS jobs become CANCELED and devices are told."""
        caller.require(Role.OPERATOR, "cancel a deployment")
        deployment = await self._deployment(caller, deployment_id)
        if deployment.status not in CANCELLABLE:
            raise DeploymentStateConflict(
                deployment_id, deployment.status.value, f"deployment '{deployment_id}' is already {deployment.status}"
            )
        text = f"cancelled by {caller.user_id}" + (f": {reason.strip()}" if reason and reason.strip() else "")
        stopped = decisions.cancel(deployment, text, self._clock.now())
        if not await self._store.save_deployment(stopped, expected_revision=deployment.revision):
            raise DeploymentChangedConcurrently(deployment_id)
        # Should this process die here, the orchestrator's sweep cancels what is left open.
        await self._cancel_jobs(stopped, await self._store.jobs(deployment_id, queries.open_jobs()), text)
        return await self._changed(stopped)

    async def rollback(self, caller: Caller, deployment_id: str, reason: str | None = None) -> DeploymentView:
        """Reinstall each device's previous version where the install succeeded or is under way (a running
        deployment is stopped first). Devices with no known, validated previous image are named in haltReason."""
        caller.require(Role.OPERATOR, "roll back a deployment")
        deployment = await self._deployment(caller, deployment_id)
        if deployment.status not in ROLLBACK_ALLOWED:
            raise DeploymentStateConflict(
                deployment_id,
                deployment.status.value,
                f"deployment '{deployment_id}' is {deployment.status}; only a deployment in progress, halted, "
                "cancelled or completed can be rolled back",
            )
        now = self._clock.now()
        installs = await self._store.jobs(
            deployment_id,
            queries.JobQuery(
                statuses=frozenset({JobStatus.SUCCEEDED, JobStatus.IN_PROGRESS}), operation=JobOperation.INSTALL
            ),
        )
        images = {v: await self._image_of(deployment.org_id, v) for v in {j.previous_version for j in installs} if v}
        plan = rollback_jobs(deployment, installs, images, now, new_id)
        asked = f"rollback requested by {caller.user_id}" + (f": {reason.strip()}" if reason and reason.strip() else "")
        parts = [deployment.halt_reason, asked, plan.note()]
        rolling = decisions.begin_rollback(deployment, "; ".join(p for p in parts if p), now)
        if not await self._store.save_deployment(rolling, expected_revision=deployment.revision, new_jobs=plan.jobs):
            raise DeploymentChangedConcurrently(deployment_id)
        for job in plan.jobs:
            await self._events.job_status_changed(job)
        stop = await self._store.jobs(deployment_id, queries.open_jobs(JobOperation.INSTALL))
        await self._cancel_jobs(rolling, stop, "rolled back")
        return await self._changed(rolling)

    # Jobs: listing for operators, and the device side (HTTP fallback and job channels).

    async def list_jobs(self, caller: Caller, command: ListJobs) -> Page[Job]:
        query, page = parse_job_query(command)
        await self._deployment(caller, command.deployment_id)
        return await self._store.list_jobs(command.deployment_id, query, page)

    async def download_url(self, job: Job) -> str:
        return await self._links.url_for(job.image.object_key)

    async def pending_jobs(self, caller: Caller, device_id: str) -> PendingJobs:
        jobs = [j for j in await self._store.open_jobs_of_device(device_id) if caller.can_see(j.org_id)]
        return PendingJobs(
            [j for j in jobs if j.status is JobStatus.IN_PROGRESS], [j for j in jobs if j.status is JobStatus.QUEUED]
        )

    async def update_job(self, caller: Caller, command: UpdateJob) -> Job:
        """A device's report over HTTP: 404 for a job it does not have, 409 when the report cannot apply."""
        # A report moves the rollout: devices report with an operator (or service) token, never a viewer's.
        caller.require(Role.OPERATOR, "report on a firmware job")
        try:
            status = JobStatus(command.status.strip().upper())
        except ValueError:
            raise ValidationFailed.of_field(
                "status", f"must be one of IN_PROGRESS, SUCCEEDED, FAILED, REJECTED, got {command.status!r}"
            ) from None
        job = await self._store.get_job(command.job_id)
        if job is None or not caller.can_see(job.org_id) or job.device_id != command.device_id:
            raise JobNotFound(command.job_id)
        report = JobReport(
            job_id=command.job_id,
            device_id=command.device_id,
            status=status,
            reported_at=self._clock.now(),
            status_details=dict(command.status_details),
            expected_version=command.expected_version,
        )
        outcome = await self.on_report(report)
        if not outcome.accepted:
            current = await self._store.get_job(command.job_id)
            if outcome.reason == "INVALID_STATUS":
                raise ValidationFailed.of_field(
                    "status", f"a device reports IN_PROGRESS, SUCCEEDED, FAILED or REJECTED, got {status}"
                )
            raise JobReportRefused(command.job_id, outcome.reason or "", current.status if current else "unknown")
        updated = await self._store.get_job(command.job_id)
        if updated is None:
            raise JobNotFound(command.job_id)
        return updated

    async def on_report(self, report: JobReport) -> JobReportOutcome:
        """JobHandler: apply a device's report (compare-and-set; a lost race is tried again on the fresh job)."""
        for _ in range(MAX_ATTEMPTS):
            job = await self._store.get_job(report.job_id)
            reason = refusal(job, report)
            if reason == JOB_NOT_FOUND or job is None:
                return JobReportOutcome(False, None, JOB_NOT_FOUND)
            if reason is not None:
                return JobReportOutcome(False, await self.document(job), reason)
            updated = apply_report(job, report, self._clock.now())
            if await self._store.save_job(updated, expected_version=job.version_number):
                await self._events.job_status_changed(updated)
                deployment = await self._store.get_deployment(updated.deployment_id)
                if deployment is not None:
                    await self._events.deployment_changed(await self._view(deployment))
                self._wake()
                return JobReportOutcome(True, await self.document(updated))
            if report.expected_version is not None:
                fresh = await self._store.get_job(report.job_id)
                return JobReportOutcome(False, await self._document_or_none(fresh), VERSION_MISMATCH)
        fresh = await self._store.get_job(report.job_id)
        return JobReportOutcome(False, await self._document_or_none(fresh), VERSION_MISMATCH)

    async def next_job(self, device_id: str) -> JobDocument | None:
        """JobHandler: the device's oldest unfinished job, IN_PROGRESS first, then QUEUED."""
        jobs = await self._store.open_jobs_of_device(device_id)
        jobs.sort(key=lambda j: (j.status is not JobStatus.IN_PROGRESS, j.queued_at, j.job_id))
        return await self.document(jobs[0]) if jobs else None

    async def document(self, job: Job) -> JobDocument:
        return job.document(await self.download_url(job))

    # What the orchestrator drives.

    async def deployments_to_drive(self) -> list[str]:
        return await self._store.deployments_to_drive(self._clock.now())

    async def advance(self, deployment_id: str) -> bool:
        """One orchestrator step on a deployment: start it when due, cancel stray jobs, time out silent jobs,
        retry failed ones, decide the batch, and send what was not sent. True when anything changed."""
        deployment = await self._store.get_deployment(deployment_id)
        if deployment is None:
            return False
        now = self._clock.now()
        changed = False
        if deployment.status is DeploymentStatus.SCHEDULED:
            if deployment.scheduled_start is not None and deployment.scheduled_start > now:
                return False
            started = decisions.start(deployment, now)
            if not await self._save(deployment, started, await self._batch_jobs(started, now)):
                return False
            deployment, changed = started, True
        changed |= await self._sweep(deployment)
        if deployment.status.driven:
            changed |= await self._time_out_silent(deployment, now)
            changed |= await self._retry_failed(deployment, now)
            decided = await self._decide(deployment, now)
            if decided is not None:
                deployment, changed = decided, True
            # Last, so that a batch started or a job retried above goes out in the same tick.
            await self._send_unsent(deployment)
        if changed:
            await self._events.deployment_changed(await self._view(deployment))
        return changed

    # Helpers.

    async def _sweep(self, deployment: Deployment) -> bool:
        """Open jobs a deployment should no longer have: any, once it stopped; install jobs while it rolls
        back. A cancel that died half-way, or a retry racing a cancel, ends here."""
        if deployment.status.driven:
            stray = await self._store.jobs(deployment.deployment_id, queries.open_jobs(other_than=deployment.operation))
        elif deployment.status is DeploymentStatus.SCHEDULED:
            return False
        else:
            stray = await self._store.jobs(deployment.deployment_id, queries.open_jobs())
        return await self._cancel_jobs(deployment, stray, deployment.halt_reason or str(deployment.status)) > 0

    async def _cancel_jobs(self, deployment: Deployment, jobs: Sequence[Job], reason: str) -> int:
        now = self._clock.now()
        cancelled = []
        for job in jobs:
            stopped = cancel_job(job, now, reason)
            if await self._store.save_job(stopped, expected_version=job.version_number):
                cancelled.append(stopped)
                await self._events.job_status_changed(stopped)
        if cancelled:
            try:
                await self._channel.cancel([await self.document(j) for j in cancelled])
            except Exception:
                # The jobs are CANCELED in the store: a device reporting on one is refused, and asks for none.
                log.exception(
                    "could not tell devices of deployment %s that jobs were cancelled", deployment.deployment_id
                )
        return len(cancelled)

    async def _time_out_silent(self, deployment: Deployment, now: datetime) -> bool:
        since = now - timedelta(seconds=deployment.job_timeout_seconds)
        changed = False
        for job in await self._store.jobs(deployment.deployment_id, queries.silent(deployment.operation, since)):
            expired = time_out(job, now, deployment.job_timeout_seconds)
            if await self._store.save_job(expired, expected_version=job.version_number):
                await self._events.job_status_changed(expired)
                changed = True
        return changed

    async def _retry_failed(self, deployment: Deployment, now: datetime) -> bool:
        query = queries.to_retry(deployment.operation, deployment.max_retries)
        changed = False
        for job in await self._store.jobs(deployment.deployment_id, query):
            again = retry(job, now)
            if await self._store.save_job(again, expected_version=job.version_number):
                await self._events.job_status_changed(again)
                changed = True
        return changed

    async def _send_unsent(self, deployment: Deployment) -> None:
        """Tell devices of the attempts the channel has not accepted yet, then record that it did. Only
        after the channel accepted them, so none is lost; the channel is idempotent per (job, attempt) for
        the rare send that a crash leaves unrecorded."""
        jobs = await self._store.jobs(deployment.deployment_id, queries.to_send(deployment.operation))
        if not jobs:
            return
        try:
            await self._channel.notify([await self.document(j) for j in jobs])
        except Exception:
            log.exception("could not send %d jobs of deployment %s; trying again", len(jobs), deployment.deployment_id)
            return
        now = self._clock.now()
        for job in jobs:
            await self._store.mark_notified(job.job_id, job.attempt, now)

    async def _decide(self, deployment: Deployment, now: datetime) -> Deployment | None:
        decision = decisions.decide(deployment, await self._store.job_counts(deployment.deployment_id))
        if decision.step is Step.WAIT:
            return None
        new_jobs: list[Job] = []
        if decision.step is Step.NEXT_BATCH:
            following = decisions.next_batch(deployment)
            new_jobs = await self._batch_jobs(following, now)
        elif decision.step is Step.COMPLETE:
            following = decisions.complete(deployment, now)
        elif decision.step is Step.HALT:
            following = decisions.halt(deployment, decision.reason or "success rate below threshold", now)
            log.warning("deployment %s halted: %s", deployment.deployment_id, decision.reason)
        else:
            following = decisions.rolled_back(deployment, now)
        return following if await self._save(deployment, following, new_jobs) else None

    async def _batch_jobs(self, deployment: Deployment, now: datetime) -> list[Job]:
        targets = await self._store.targets_of_batch(deployment.deployment_id, deployment.current_batch)
        return install_jobs(deployment, targets, now, new_id)

    async def _save(self, current: Deployment, following: Deployment, new_jobs: Sequence[Job]) -> bool:
        if not await self._store.save_deployment(following, expected_revision=current.revision, new_jobs=new_jobs):
            return False
        for job in new_jobs:
            await self._events.job_status_changed(job)
        return True

    async def _image_of(self, org_id: str, version: str) -> FirmwareImage | None:
        return image_of(await self._firmware.find_version(org_id, version))

    async def _deployment(self, caller: Caller, deployment_id: str) -> Deployment:
        deployment = await self._store.get_deployment(deployment_id) if deployment_id else None
        if deployment is None or not caller.can_see(deployment.org_id):
            raise DeploymentNotFound(deployment_id)
        return deployment

    async def _view(self, deployment: Deployment) -> DeploymentView:
        return view(deployment, await self._store.job_counts(deployment.deployment_id))

    async def _changed(self, deployment: Deployment) -> DeploymentView:
        result = await self._view(deployment)
        await self._events.deployment_changed(result)
        self._wake()
        return result

    async def _document_or_none(self, job: Job | None) -> JobDocument | None:
        return await self.document(job) if job is not None else None

    def _wake(self) -> None:
        for listener in self._listeners:
            listener()
