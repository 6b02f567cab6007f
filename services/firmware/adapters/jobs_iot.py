"""The production job channel: AWS IoT Jobs (aioboto3 `iot` client).

- notify → create_job, one IoT job per device job execution: jobId = our job id (plus `--r<attempt>` for a
  retry, since IoT job ids cannot be reused), targets = the device's thing ARN (devices are things named by
  their device id, as the device service's IoT Core registry creates them), document = the same job document
  the MQTT channel sends (jobs_codec.job_document, plus jobId and deviceId). A retry cancels the previous
  attempt's IoT job first, so a device never sees two.
- cancel → cancel_job (force: a device in the middle of it is told at once).
- reports: devices talk to IoT Jobs itself ($aws/things/<id>/jobs/...). Their status changes come back by
  polling describe_job_execution for the jobs this adapter created or found still open at start, and reach
  JobHandler.on_report. In production, an IoT rule on `$aws/events/jobExecution/#` can deliver the same
  changes at once (docs/device-jobs.md); the poller stays as the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aioboto3
import orjson
from botocore.exceptions import BotoCoreError, ClientError

from services.firmware.adapters.jobs_codec import job_document
from services.firmware.domain.rollout.job import DEVICE_REPORTABLE, JobDocument, JobReport, JobStatus
from services.firmware.ports import JobHandler
from services.kernel.errors import Unavailable

if TYPE_CHECKING:
    from types_aiobotocore_iot.client import IoTClient

log = logging.getLogger("iotmon.firmware.jobs.iot")

RETRY_SUFFIX = re.compile(r"^(?P<job>.+)--r(?P<attempt>\d+)$")
MAX_JOB_ID = 64  # IoT Jobs' limit, [a-zA-Z0-9_-]
NOT_JOB_ID = re.compile(r"[^a-zA-Z0-9_-]")
# IoT job execution statuses that are over: the poller stops asking about them.
AWS_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "REJECTED", "TIMED_OUT", "REMOVED", "CANCELED"})
ALREADY_GONE = frozenset({"ResourceNotFoundException", "InvalidStateTransitionException"})


def aws_job_id(job_id: str, attempt: int) -> str:
    """Our job id, with the attempt for a retry (IoT job ids are single-use)."""
    base = NOT_JOB_ID.sub("-", job_id)
    aws_id = base if attempt <= 1 else f"{base}--r{attempt}"
    if len(aws_id) > MAX_JOB_ID:
        raise ValueError(f"job id {job_id!r} is too long for IoT Jobs ({MAX_JOB_ID} characters with the attempt)")
    return aws_id


def our_job_id(aws_id: str) -> tuple[str, int]:
    """(job id, attempt) of an IoT job id made by aws_job_id."""
    match = RETRY_SUFFIX.match(aws_id)
    return (match["job"], int(match["attempt"])) if match else (aws_id, 1)


@dataclass
class _Tracked:
    job_id: str
    device_id: str
    # What the poller last passed on: (status, versionNumber); None until the first poll.
    seen: tuple[str, int] | None = None


class IotJobsChannel:
    """JobChannel over AWS IoT Jobs. `endpoint_url` points at moto or LocalStack in tests."""

    def __init__(
        self,
        *,
        session: aioboto3.Session | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        poll_interval_seconds: float = 10.0,
        # At start, jobs completed this recently are read once more, in case a report came while we were away.
        rediscover_completed_seconds: float = 86_400.0,
        concurrency: int = 8,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._session = session or aioboto3.Session()
        self._region = region
        self._endpoint_url = endpoint_url
        self._poll_interval = poll_interval_seconds
        self._rediscover = timedelta(seconds=rediscover_completed_seconds)
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._resources = AsyncExitStack()
        self._client: IoTClient | None = None
        self._thing_arns: dict[str, str] = {}
        self._created: set[str] = set()  # IoT job ids created (or found existing) by this process
        self._tracked: dict[str, _Tracked] = {}  # IoT job id → the execution the poller follows
        self._poller: asyncio.Task[None] | None = None
        self._handler: JobHandler | None = None

    # -- JobChannel ------------------------------------------------------------------------------------

    async def start(self, handler: JobHandler) -> None:
        self._handler = handler
        await self._discover()
        self._poller = asyncio.create_task(self._poll_forever())

    async def notify(self, jobs: Sequence[JobDocument]) -> None:
        await asyncio.gather(*(self._create(job) for job in jobs))

    async def cancel(self, jobs: Sequence[JobDocument]) -> None:
        await asyncio.gather(*(self._cancel(aws_job_id(job.job_id, job.attempt), "cancelled") for job in jobs))

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self._resources.aclose()
        self._client = None

    # -- creating and cancelling -----------------------------------------------------------------------

    async def _create(self, job: JobDocument) -> None:
        aws_id = aws_job_id(job.job_id, job.attempt)
        if aws_id in self._created:
            return
        if job.attempt > 1:  # the previous attempt may still be open on a silent device
            previous = aws_job_id(job.job_id, job.attempt - 1)
            try:
                await self._cancel(previous, "retried")
            except Unavailable:  # best effort: the new attempt matters more
                log.warning("previous attempt not cancelled", extra={"job": previous}, exc_info=True)
        document = job_document(job) | {"jobId": job.job_id, "deviceId": job.device_id}
        async with self._slots:
            iot = await self._iot()
            target = await self._thing_arn(iot, job.device_id)
            try:
                await iot.create_job(
                    jobId=aws_id,
                    targets=[target],
                    document=orjson.dumps(document).decode(),
                    description=f"iotmon deployment {job.deployment_id}: {job.operation.value} {job.firmware_version}",
                    targetSelection="SNAPSHOT",
                )
            except ClientError as error:
                if _code(error) != "ResourceAlreadyExistsException":  # created before a restart: fine
                    raise _unavailable("create_job", error) from None
            except BotoCoreError as error:
                raise _unavailable("create_job", error) from None
        self._created.add(aws_id)
        self._tracked.setdefault(aws_id, _Tracked(job.job_id, job.device_id))

    async def _cancel(self, aws_id: str, reason: str) -> None:
        self._tracked.pop(aws_id, None)
        async with self._slots:
            iot = await self._iot()
            try:
                await iot.cancel_job(jobId=aws_id, reasonCode=reason, comment=f"iotmon: {reason}", force=True)
            except ClientError as error:
                if _code(error) not in ALREADY_GONE:
                    raise _unavailable("cancel_job", error) from None
            except BotoCoreError as error:
                raise _unavailable("cancel_job", error) from None

    async def _thing_arn(self, iot: IoTClient, device_id: str) -> str:
        arn = self._thing_arns.get(device_id)
        if arn is None:
            try:
                arn = (await iot.describe_thing(thingName=device_id))["thingArn"]
            except (ClientError, BotoCoreError) as error:
                raise _unavailable(f"describe_thing {device_id}", error) from None
            self._thing_arns[device_id] = arn
        return arn

    # -- following the executions ----------------------------------------------------------------------

    async def _discover(self) -> None:
        """Open jobs (and recently completed ones) created before this process: follow them again."""
        iot = await self._iot()
        since = self._clock() - self._rediscover
        jobs: list[str] = []
        token: str | None = None
        while True:
            page = await (iot.list_jobs(nextToken=token) if token else iot.list_jobs())
            for summary in page.get("jobs", []):
                status, completed = summary.get("status"), summary.get("completedAt")
                if status in ("QUEUED", "IN_PROGRESS", "SCHEDULED") or (
                    status == "COMPLETED" and completed is not None and completed >= since
                ):
                    jobs.append(summary["jobId"])
            token = page.get("nextToken")
            if not token:
                break
        for aws_id in jobs:
            executions = await iot.list_job_executions_for_job(jobId=aws_id)
            for execution in executions.get("executionSummaries", []):
                thing = execution.get("thingArn", "").rsplit("/", 1)[-1]
                if thing:
                    job_id, _ = our_job_id(aws_id)
                    self._created.add(aws_id)
                    self._tracked.setdefault(aws_id, _Tracked(job_id, thing))
        log.info("following IoT jobs", extra={"jobs": len(self._tracked)})

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # keep polling: the next round may find AWS reachable again
                log.exception("polling IoT job executions failed")
            await asyncio.sleep(self._poll_interval)

    async def poll(self) -> int:
        """One round: every followed execution's status, changes passed to the handler. Returns reports made."""
        reports = await asyncio.gather(*(self._poll_one(aws_id, t) for aws_id, t in list(self._tracked.items())))
        return sum(reports)

    async def _poll_one(self, aws_id: str, tracked: _Tracked) -> int:
        async with self._slots:
            iot = await self._iot()
            try:
                answer = await iot.describe_job_execution(jobId=aws_id, thingName=tracked.device_id)
            except ClientError as error:
                if _code(error) == "ResourceNotFoundException":
                    self._tracked.pop(aws_id, None)
                    return 0
                raise
        execution: dict[str, Any] = dict(answer["execution"])
        status, version = str(execution.get("status", "")), int(execution.get("versionNumber", 0))
        if status in AWS_TERMINAL:
            self._tracked.pop(aws_id, None)
        if tracked.seen == (status, version) or status not in DEVICE_REPORTABLE:
            tracked.seen = (status, version)
            return 0
        details = execution.get("statusDetails", {}).get("detailsMap", {}) or {}
        updated = execution.get("lastUpdatedAt")
        report = JobReport(
            job_id=tracked.job_id,
            device_id=tracked.device_id,
            status=JobStatus(status),
            reported_at=updated if isinstance(updated, datetime) else self._clock(),
            status_details={str(k): str(v) for k, v in details.items()},
        )
        assert self._handler is not None
        outcome = await self._handler.on_report(report)
        if not outcome.accepted:
            log.info("IoT job report refused", extra={"job": tracked.job_id, "reason": outcome.reason})
        tracked.seen = (status, version)
        return 1

    # -- the client ------------------------------------------------------------------------------------

    async def _iot(self) -> IoTClient:
        if self._client is None:
            self._client = await self._resources.enter_async_context(
                self._session.client("iot", region_name=self._region, endpoint_url=self._endpoint_url)
            )
        return self._client


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _unavailable(what: str, error: Exception) -> Unavailable:
    return Unavailable(f"AWS IoT {what} failed ({error}); the jobs will be sent again")
