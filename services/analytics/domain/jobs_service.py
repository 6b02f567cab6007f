"""The report and export use cases (§3.5.3, §3.5.4): request (validate, store queued, announce), read (status
and a fresh download link), and build (the workers: claim, build under a renewed lease, store the file,
complete or fail).

Building is idempotent: a claimed job (running under a live lease), a completed or a failed one is not built
again; a redelivered event or a second replica finds the claim taken and does nothing. A worker that dies
leaves its lease to expire; the sweep (`recover`) claims such jobs, and queued jobs whose event never came.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from services.analytics.domain.documents import (
    DeviceUptime,
    ReportDocument,
    alert_summary_document,
    data_volume_document,
    device_uptime_document,
    hours_counted,
)
from services.analytics.domain.export_format import EXTENSIONS, MEDIA_TYPES, encode_rows, header
from services.analytics.domain.jobs import Job, JobKind, JobNotFound, JobStatus, Outcome, object_key
from services.analytics.domain.query import DevicesNotFound
from services.analytics.domain.requests import (
    ExportSpec,
    ReportSpec,
    estimate_export_ms,
    estimate_report_ms,
    validate_export,
    validate_report,
)
from services.analytics.ports import (
    DeviceOwnership,
    FileStore,
    JobQueue,
    JobStore,
    ReadingStream,
    ReportRenderer,
    ReportSources,
)
from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied
from services.kernel.ids import new_id

log = logging.getLogger("iotmon.analytics")

REPORT_MEDIA_TYPES = {"pdf": "application/pdf", "csv": "text/csv", "json": "application/json"}
HOUR_MS = 3_600_000


class ReportsAndExports:
    def __init__(
        self,
        *,
        jobs: JobStore,
        queue: JobQueue,
        files: FileStore,
        ownership: DeviceOwnership,
        sources: ReportSources,
        readings: ReadingStream,
        renderer: ReportRenderer,
        now_ms: Callable[[], int],
        lease_ms: int = 120_000,
        download_expires_s: float = 3600,
        run_blocking: Callable[[Callable[[], bytes]], Awaitable[bytes]] | None = None,
    ):
        self._jobs = jobs
        self._queue = queue
        self._files = files
        self._ownership = ownership
        self._sources = sources
        self._readings = readings
        self._renderer = renderer
        self._now_ms = now_ms
        self._lease_ms = lease_ms
        self._download_expires_s = download_expires_s
        self._run_blocking = run_blocking or (lambda work: asyncio.to_thread(work))

    # Requests.

    async def request_report(self, caller: Caller, report_type: str, parameters: dict[str, Any], format: str) -> Job:
        organization_id = _organization(caller, "request a report")
        spec = validate_report(report_type, parameters, format)
        await self._check_owned(organization_id, spec.device_ids)
        now = self._now_ms()
        waiting = await self._jobs.count_waiting(JobKind.REPORT)
        job = Job(
            job_id=new_id("report"),
            kind=JobKind.REPORT,
            organization_id=organization_id,
            requested_by=caller.user_id,
            format=spec.format,
            report_type=spec.report_type,
            parameters=spec.as_parameters(),
            status=JobStatus.QUEUED,
            created_at_ms=now,
            estimated_completion_ms=now + estimate_report_ms(spec, waiting),
        )
        await self._jobs.add(job)
        await self._queue.report_requested(job)
        return job

    async def request_export(
        self,
        caller: Caller,
        device_ids: tuple[str, ...],
        metrics: tuple[str, ...],
        start_ms: int | None,
        end_ms: int | None,
        format: str,
    ) -> Job:
        organization_id = _organization(caller, "export data")
        spec = validate_export(device_ids, metrics, start_ms, end_ms, format)
        await self._check_owned(organization_id, spec.device_ids)
        now = self._now_ms()
        waiting = await self._jobs.count_waiting(JobKind.EXPORT)
        job = Job(
            job_id=new_id("export"),
            kind=JobKind.EXPORT,
            organization_id=organization_id,
            requested_by=caller.user_id,
            format=spec.format,
            report_type="",
            parameters=spec.as_parameters(),
            status=JobStatus.QUEUED,
            created_at_ms=now,
            estimated_completion_ms=now + estimate_export_ms(spec, waiting),
        )
        await self._jobs.add(job)
        await self._queue.export_requested(job)
        return job

    async def get(self, caller: Caller, kind: JobKind, job_id: str) -> tuple[Job, str | None]:
        """The job and, once completed, a download URL valid for `download_expires_s`."""
        organization_id = _organization(caller, f"read {kind.value}s")
        job = await self._jobs.get(kind, job_id)
        if job is None or job.organization_id != organization_id:
            raise JobNotFound(kind, job_id)
        url = None
        if job.status is JobStatus.COMPLETED and job.object_key:
            filename = job.object_key.rsplit("/", 1)[-1]
            url = await self._files.presign_download(
                job.object_key, expires_in=self._download_expires_s, filename=filename
            )
        return job, url

    # Workers.

    async def build(self, kind: JobKind, job_id: str) -> bool:
        """Build the job if it is to be built now (False: someone else has or had it)."""
        job = await self._jobs.claim(kind, job_id, self._now_ms(), self._lease_ms)
        if job is None:
            return False
        renewing = asyncio.create_task(self._keep_lease(job))
        try:
            outcome = await (self._build_report(job) if kind is JobKind.REPORT else self._build_export(job))
        except asyncio.CancelledError:
            raise  # shutting down: the lease expires and the sweep builds it again
        except Exception as error:
            log.warning("%s %s failed", kind.value, job_id, exc_info=True)
            finished = replace(job, status=JobStatus.FAILED, error=_error_text(error))
        else:
            finished = replace(
                job, status=JobStatus.COMPLETED, object_key=outcome.object_key, size=outcome.size, rows=outcome.rows
            )
        finally:
            renewing.cancel()
        finished = replace(finished, completed_at_ms=self._now_ms(), lease_until_ms=None)
        if not await self._jobs.finish(kind, job_id, job.attempt, finished):
            log.warning("%s %s was taken over while it was built; this attempt's result is dropped", kind, job_id)
            return False
        return True

    async def recover(self, queued_grace_ms: int = 60_000, limit: int = 20) -> int:
        """Build jobs whose worker died (expired lease) or whose event was lost (queued too long); how many."""
        now = self._now_ms()
        built = 0
        for job in await self._jobs.stale(now, now - queued_grace_ms, limit):
            if await self.build(job.kind, job.job_id):
                built += 1
        return built

    async def _keep_lease(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            if not await self._jobs.renew(job.kind, job.job_id, job.attempt, self._now_ms() + self._lease_ms):
                return

    async def _build_report(self, job: Job) -> Outcome:
        spec = ReportSpec.from_parameters(job.report_type, job.format, job.parameters)
        document = await self._report_document(job.organization_id, spec)
        content = await self._run_blocking(lambda: self._renderer.render(document, spec.format))
        key = object_key(job, spec.format)
        written = await self._files.write(key, _once(content), content_type=REPORT_MEDIA_TYPES[spec.format])
        return Outcome(key, written.size)

    async def _report_document(self, organization_id: str, spec: ReportSpec) -> ReportDocument:
        now = self._now_ms()
        if spec.report_type == "device-uptime":
            devices = await self._sources.devices(organization_id, spec.device_ids)
            uptimes = []
            for device in devices:
                first, hours = hours_counted(spec, device.registered_at_ms, now)
                with_data: set[int] = set()
                if hours and device.metrics:
                    start, end = first * HOUR_MS, (first + hours) * HOUR_MS
                    found = await self._sources.hours_with_data(
                        organization_id, device.device_id, device.metrics, start, end
                    )
                    with_data = {h for h in found if first <= h < first + hours}
                uptimes.append(
                    DeviceUptime(device.device_id, device.name, device.status, len(with_data), hours, device.uptime_24h)
                )
            return device_uptime_document(spec, uptimes, now)
        if spec.report_type == "alert-summary":
            counts = await self._sources.alert_counts(organization_id, spec.start_ms, spec.end_ms, spec.device_ids)
            return alert_summary_document(spec, counts, now)
        days = await self._sources.daily_datapoints(organization_id, spec.start_ms, spec.end_ms)
        return data_volume_document(spec, days, now)

    async def _build_export(self, job: Job) -> Outcome:
        spec = ExportSpec.from_parameters(job.format, job.parameters)
        key = object_key(job, EXTENSIONS[spec.format])
        rows = 0

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal rows
            yield header(spec.format)
            async for batch in self._readings.batches(job.organization_id, spec):
                rows += len(batch.timestamps_ms)
                yield encode_rows(spec.format, batch.timestamps_ms, batch.device_ids, batch.metrics, batch.values)

        written = await self._files.write(key, chunks(), content_type=MEDIA_TYPES[spec.format])
        return Outcome(key, written.size, rows)

    async def _check_owned(self, organization_id: str, device_ids: tuple[str, ...]) -> None:
        if not device_ids:
            return
        owned = await self._ownership.owned(organization_id, device_ids)
        missing = [device_id for device_id in device_ids if device_id not in owned]
        if missing:
            raise DevicesNotFound(missing)


def _organization(caller: Caller, action: str) -> str:
    caller.require(Role.VIEWER, action)
    if caller.is_service:
        raise PermissionDenied(f"reports and exports are an organization's: {action} as one of its users")
    return caller.organization_id


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content


def _error_text(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return message[:500]
