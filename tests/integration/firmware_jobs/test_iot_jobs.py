"""IotJobsChannel on moto in server mode.

moto has no `iot-jobs-data` API (what a device calls to report), so a device's report is made by changing the
job execution in moto's in-process backend, exactly what UpdateJobExecution would change; the adapter only
sees it through the `iot` API (describe_job_execution), as in production.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aioboto3
import orjson
import pytest

from services.firmware.adapters.jobs_iot import IotJobsChannel, aws_job_id, our_job_id
from services.firmware.domain.rollout.job import JobStatus
from tests.support.moto import REGION
from tests.unit.firmware_jobs.fakes import FakeJobHandler, make_job

pytestmark = pytest.mark.needs_server

ACCOUNT = "123456789012"  # moto's default account


def execution_in_moto(aws_id: str, thing: str) -> object:
    from moto.iot.models import iot_backends

    return iot_backends[ACCOUNT][REGION].job_executions[(aws_id, thing)]


@pytest.fixture
async def iot(moto_endpoint: str) -> AsyncIterator[object]:
    async with aioboto3.Session().client("iot", region_name=REGION, endpoint_url=moto_endpoint) as client:
        yield client


async def thing(iot: object) -> str:
    name = f"dev-{uuid.uuid4().hex[:10]}"
    await iot.create_thing(thingName=name)  # type: ignore[attr-defined]
    return name


@pytest.fixture
async def channel(moto_endpoint: str) -> AsyncIterator[IotJobsChannel]:
    opened = IotJobsChannel(region=REGION, endpoint_url=moto_endpoint, poll_interval_seconds=3600)
    yield opened
    await opened.close()


def test_retries_get_their_own_iot_job_id_that_maps_back() -> None:
    assert aws_job_id("job-1", 1) == "job-1"
    assert aws_job_id("job-1", 3) == "job-1--r3"
    assert our_job_id("job-1--r3") == ("job-1", 3)
    assert our_job_id("job-1") == ("job-1", 1)
    assert aws_job_id("job:1.a", 1) == "job-1-a"
    with pytest.raises(ValueError, match="too long"):
        aws_job_id("j" * 64, 2)


async def test_notify_creates_one_iot_job_per_execution_targeting_the_thing(
    iot: object, channel: IotJobsChannel
) -> None:
    device = await thing(iot)
    job = make_job(device, f"job-{uuid.uuid4().hex[:8]}", url="https://files/fw.bin", checksum="cd" * 32, size=99)
    await channel.start(FakeJobHandler([job]))
    await channel.notify([job])
    await channel.notify([job])  # idempotent

    described = await iot.describe_job(jobId=job.job_id)  # type: ignore[attr-defined]
    arn = (await iot.describe_thing(thingName=device))["thingArn"]  # type: ignore[attr-defined]
    assert described["job"]["targets"] == [arn]
    document = orjson.loads((await iot.get_job_document(jobId=job.job_id))["document"])  # type: ignore[attr-defined]
    assert document == {
        "operation": "install",
        "firmwareId": "fw-1",
        "version": "v2.0.0",
        "url": "https://files/fw.bin",
        "sha256": "cd" * 32,
        "size": 99,
        "deploymentId": "dep-1",
        "jobId": job.job_id,
        "deviceId": device,
    }


async def test_a_retry_is_a_new_iot_job_and_the_previous_attempt_is_cancelled(
    iot: object, channel: IotJobsChannel
) -> None:
    device = await thing(iot)
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    await channel.start(FakeJobHandler())
    await channel.notify([make_job(device, job_id)])
    await channel.notify([make_job(device, job_id, attempt=2)])

    assert (await iot.describe_job(jobId=job_id))["job"]["status"] == "CANCELED"  # type: ignore[attr-defined]
    assert (await iot.describe_job(jobId=f"{job_id}--r2"))["job"]["status"] != "CANCELED"  # type: ignore[attr-defined]


async def test_cancel_cancels_the_iot_job(iot: object, channel: IotJobsChannel) -> None:
    device = await thing(iot)
    job = make_job(device, f"job-{uuid.uuid4().hex[:8]}")
    await channel.start(FakeJobHandler([job]))
    await channel.notify([job])
    await channel.cancel([job])
    await channel.cancel([job])  # already cancelled: no error
    assert (await iot.describe_job(jobId=job.job_id))["job"]["status"] == "CANCELED"  # type: ignore[attr-defined]
    assert await channel.poll() == 0, "a cancelled job is no longer followed"


async def test_status_changes_of_an_execution_reach_the_handler_once_each(iot: object, channel: IotJobsChannel) -> None:
    device = await thing(iot)
    job = make_job(device, f"job-{uuid.uuid4().hex[:8]}")
    handler = FakeJobHandler([job])
    await channel.start(handler)
    await channel.notify([job])
    assert await channel.poll() == 0, "QUEUED is not a device report"

    execution = execution_in_moto(job.job_id, device)
    execution.status, execution.version_number = "IN_PROGRESS", 2  # type: ignore[attr-defined]
    assert await channel.poll() == 1
    assert await channel.poll() == 0, "no change, no report"
    execution.status, execution.version_number = "FAILED", 3  # type: ignore[attr-defined]
    execution.status_details_map = {"reason": "checksum mismatch"}  # type: ignore[attr-defined]
    assert await channel.poll() == 1
    assert await channel.poll() == 0, "a finished execution is no longer followed"

    assert [(r.job_id, r.device_id, r.status) for r in handler.reports] == [
        (job.job_id, device, JobStatus.IN_PROGRESS),
        (job.job_id, device, JobStatus.FAILED),
    ]
    assert dict(handler.reports[1].status_details) == {"reason": "checksum mismatch"}
    assert handler.jobs[job.job_id].status is JobStatus.FAILED


async def test_a_restarted_channel_follows_the_jobs_still_open(iot: object, moto_endpoint: str) -> None:
    device = await thing(iot)
    job = make_job(device, f"job-{uuid.uuid4().hex[:8]}", attempt=2)
    first = IotJobsChannel(region=REGION, endpoint_url=moto_endpoint, poll_interval_seconds=3600)
    await first.start(FakeJobHandler())
    await first.notify([job])
    await first.close()

    execution_in_moto(f"{job.job_id}--r2", device).status = "SUCCEEDED"  # type: ignore[attr-defined]
    handler = FakeJobHandler([job])
    second = IotJobsChannel(region=REGION, endpoint_url=moto_endpoint, poll_interval_seconds=3600)
    try:
        await second.start(handler)
        await second.poll()
    finally:
        await second.close()
    # Other tests' jobs share this moto and are found too (the handler refuses those it does not know).
    assert [r.status for r in handler.reports if r.job_id == job.job_id] == [JobStatus.SUCCEEDED]
    assert handler.jobs[job.job_id].status is JobStatus.SUCCEEDED
