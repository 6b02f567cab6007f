"""Simulated devices taking jobs through the real MqttJobChannel on Mosquitto (a fake JobHandler behind it),
downloading the image from a local HTTP server."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from iotmon.simulate.firmware_device import Behaviour
from iotmon.simulate.jobs import FirmwareFleet, firmware_fleet
from iotmon.simulate.options import MqttUrl
from services.firmware.adapters.jobs_mqtt import MqttJobChannel
from services.firmware.adapters.jobs_mqtt_config import MqttJobOptions
from services.firmware.domain.rollout.job import JobStatus
from tests.integration.firmware_jobs.mqtt_device import clear_retained
from tests.support.servers import require_server
from tests.support.uvicorn import serving_app
from tests.unit.firmware_jobs.fakes import FakeJobHandler, make_job

pytestmark = pytest.mark.needs_server

IMAGE = b"IOTMONFW" + bytes(range(256)) * 4
DIGEST = hashlib.sha256(IMAGE).hexdigest()
BROKER = MqttUrl("127.0.0.1", 1883)


@pytest.fixture(autouse=True)
def mosquitto() -> None:
    require_server("Mosquitto", "127.0.0.1", 1883)


@pytest.fixture
async def files() -> AsyncIterator[str]:
    async def image(_request: object) -> Response:
        return Response(IMAGE, media_type="application/octet-stream")

    async with serving_app(Starlette(routes=[Route("/fw.bin", image)])) as url:
        yield url


async def settled(fleet: FirmwareFleet) -> None:
    """Until every device has the answer to its last report (the handler applies it a moment before)."""
    async with asyncio.timeout(10):
        while fleet.counts.installing:  # noqa: ASYNC110 (plain counters, nothing to await)
            await asyncio.sleep(0.02)


class Rig:
    def __init__(self, prefix: str, handler: FakeJobHandler, channel: MqttJobChannel) -> None:
        self.prefix, self.handler, self.channel = prefix, handler, channel
        self.devices = [f"sim-{uuid.uuid4().hex[:8]}" for _ in range(3)]

    def fleet(self, silent: int = 0, **behaviour: float) -> object:
        settings = {"install_seconds": 0.05, "failure_rate": 0.0, "reboot_seconds": 0.2} | behaviour
        return firmware_fleet(
            self.devices,
            via_mqtt=BROKER,
            api=None,
            behaviour=Behaviour(**settings),
            initial_version="v1.0.0",
            silent=silent,
            seed=3,
            topic_prefix=self.prefix,
        )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    prefix = f"t-{uuid.uuid4().hex[:10]}/devices"
    handler = FakeJobHandler()
    options = MqttJobOptions(
        client_id=f"fw-{uuid.uuid4().hex[:8]}", group=None, topic_prefix=prefix, session_expiry_seconds=0
    )
    channel = MqttJobChannel("mqtt://127.0.0.1:1883", options)
    await channel.start(handler)
    await asyncio.wait_for(channel.subscribed.wait(), 10)
    made = Rig(prefix, handler, channel)
    try:
        yield made
    finally:
        await channel.close()
        clear_retained(prefix, made.devices)


async def test_devices_install_reboot_ask_again_and_succeed_with_the_new_version(rig: Rig, files: str) -> None:
    jobs = [
        rig.handler.add(make_job(d, f"job-{n}", url=f"{files}/fw.bin", checksum=DIGEST, size=len(IMAGE)))
        for n, d in enumerate(rig.devices)
    ]
    async with rig.fleet() as fleet:
        assert isinstance(fleet, FirmwareFleet)
        await rig.channel.notify(jobs)
        for job in jobs:
            await rig.handler.wait_for_status(job.job_id, JobStatus.SUCCEEDED)
        await settled(fleet)
        versions = {device.device_id: device.firmware_version for device in fleet.devices}
        counts = (fleet.counts.succeeded, fleet.counts.failed, fleet.counts.installing)

    assert versions == dict.fromkeys(rig.devices, "v2.0.0")
    assert counts == (3, 0, 0)
    for device in rig.devices:
        statuses = [r.status for r in rig.handler.reports if r.device_id == device]
        assert statuses == [JobStatus.IN_PROGRESS, JobStatus.SUCCEEDED]
        # Asked at boot, and again after the reboot before reporting SUCCEEDED.
        assert rig.handler.next_job_calls.count(device) >= 2
    first = next(r for r in rig.handler.reports if r.status is JobStatus.IN_PROGRESS)
    assert first.expected_version == 1


async def test_with_failure_rate_one_every_device_reports_failed(rig: Rig) -> None:
    jobs = [rig.handler.add(make_job(d, f"job-{n}")) for n, d in enumerate(rig.devices)]
    async with rig.fleet(failure_rate=1.0) as fleet:
        assert isinstance(fleet, FirmwareFleet)
        await rig.channel.notify(jobs)
        for job in jobs:
            await rig.handler.wait_for_status(job.job_id, JobStatus.FAILED)
        await settled(fleet)
        versions = {device.firmware_version for device in fleet.devices}
    assert versions == {"v1.0.0"}
    failed = [r for r in rig.handler.reports if r.status is JobStatus.FAILED]
    assert {dict(r.status_details)["reason"] for r in failed} == {"install failed (simulated)"}


async def test_a_device_that_boots_later_takes_the_job_waiting_for_it(rig: Rig, files: str) -> None:
    job = rig.handler.add(make_job(rig.devices[0], "job-early", url=f"{files}/fw.bin", checksum="00" * 32))
    await rig.channel.notify([job])  # retained: nobody listens yet
    async with rig.fleet():
        done = await rig.handler.wait_for_status("job-early", JobStatus.FAILED)
    assert done.status is JobStatus.FAILED
    assert dict(rig.handler.reports[-1].status_details) == {"reason": "checksum mismatch"}


async def test_silent_devices_never_answer(rig: Rig) -> None:
    jobs = [rig.handler.add(make_job(d, f"job-{n}")) for n, d in enumerate(rig.devices)]
    async with rig.fleet(silent=1):
        await rig.channel.notify(jobs)
        await rig.handler.wait_for_status("job-0", JobStatus.SUCCEEDED)
        await rig.handler.wait_for_status("job-1", JobStatus.SUCCEEDED)
        await asyncio.sleep(0.5)
    assert rig.handler.jobs["job-2"].status is JobStatus.QUEUED
    assert all(r.device_id != rig.devices[2] for r in rig.handler.reports)


async def test_a_cancel_during_the_install_stops_the_device(rig: Rig) -> None:
    job = rig.handler.add(make_job(rig.devices[0], "job-stop"))
    async with rig.fleet(install_seconds=1.5) as fleet:
        assert isinstance(fleet, FirmwareFleet)
        await rig.channel.notify([job])
        await rig.handler.wait_for_status("job-stop", JobStatus.IN_PROGRESS)
        await rig.channel.cancel([rig.handler.cancel("job-stop")])
        await asyncio.sleep(2.0)
        version = fleet.devices[0].firmware_version
    assert version == "v1.0.0"
    assert [r.status for r in rig.handler.reports if r.job_id == "job-stop"] == [JobStatus.IN_PROGRESS]


async def test_download_follows_a_gateway_path(files: str) -> None:
    async with httpx.AsyncClient(base_url=files) as api:
        assert str(api.base_url.join("/fw.bin")) == f"{files}/fw.bin"
