"""The device service as its bootstrap builds it, on every store: firmware.job_status_changed events (real
protobuf on the in-process bus) set firmwareVersion, as GetDevice shows it, and publish device.updated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc.aio
import pytest
from google.protobuf import json_format
from iot.common.v1 import common_pb2
from iot.device.v1 import device_pb2, device_pb2_grpc, events_pb2
from iot.firmware.v1 import events_pb2 as firmware_events

from services.device.adapters.firmware_consumer import JOB_STATUS_CHANGED
from services.device.bootstrap import DeviceSettings, build
from services.kernel.ids import new_id
from services.runtime.bus import InProcessBus
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from tests.e2e.spec_payloads import REGISTER_DEVICE
from tests.integration.device.support import as_user, serve
from tests.support.moto import REGION
from tests.support.tokens import TokenMinter

ORG = "org-1"
REPORTED = datetime(2025, 11, 15, 14, 0, tzinfo=UTC)


@dataclass
class Running:
    bus: InProcessBus
    stub: device_pb2_grpc.DeviceServiceAsyncStub
    metadata: list[tuple[str, str]]
    updated: list[events_pb2.DeviceUpdated] = field(default_factory=list)

    async def register(self) -> str:
        request = json_format.ParseDict(REGISTER_DEVICE, device_pb2.RegisterDeviceRequest())
        return str((await self.stub.RegisterDevice(request, metadata=self.metadata)).device_id)

    async def firmware_of(self, device_id: str) -> str:
        reply = await self.stub.GetDevice(device_pb2.GetDeviceRequest(device_id=device_id), metadata=self.metadata)
        return str(json_format.MessageToDict(reply.device).get("firmwareVersion", ""))


def job_event(
    device_id: str, version: str, status: str = "SUCCEEDED", minutes: int = 0, org: str = ORG
) -> firmware_events.JobStatusChanged:
    event = firmware_events.JobStatusChanged(
        meta=common_pb2.EventMeta(event_id=new_id("evt"), organization_id=org),
        job_id=new_id("job"),
        deployment_id="dep-1",
        device_id=device_id,
        status=status,
        firmware_version=version,
        operation="install",
    )
    event.reported_at.FromDatetime(REPORTED + timedelta(minutes=minutes))
    return event


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
async def running(request: pytest.FixtureRequest, tmp_path: Path, token_minter: TokenMinter) -> AsyncIterator[Running]:
    settings = DeviceSettings(store=request.param)
    if request.param == "dynamodb":
        endpoint = request.getfixturevalue("moto_endpoint")
        settings = DeviceSettings(
            store="dynamodb", aws_endpoint_url=endpoint, aws_region=REGION, dynamodb_table=f"devices-{new_id('t')}"
        )
    bus = InProcessBus()
    ctx = BuildContext(RuntimeSettings(data_dir=tmp_path), bus)
    async with ctx.resources:
        built = await build(ctx, settings)
        server = await serve(token_minter, built.registrations)
        try:
            async with grpc.aio.insecure_channel(server.address) as channel:
                stub = device_pb2_grpc.DeviceServiceStub(channel)
                running = Running(bus, stub, as_user(token_minter, role="admin"))

                async def record(routing_key: str, payload: bytes) -> None:
                    running.updated.append(events_pb2.DeviceUpdated.FromString(payload))

                bus.subscribe("device.updated", record)
                yield running
        finally:
            await server.stop(0)


async def test_a_succeeded_job_sets_the_firmware_version_once(running: Running) -> None:
    device_id = await running.register()

    await running.bus.publish(JOB_STATUS_CHANGED, job_event(device_id, "v2.1.0", "IN_PROGRESS"))
    assert await running.firmware_of(device_id) == ""

    event = job_event(device_id, "v2.1.0")
    await running.bus.publish(JOB_STATUS_CHANGED, event)
    await running.bus.publish(JOB_STATUS_CHANGED, event)  # redelivered

    assert await running.firmware_of(device_id) == "v2.1.0"
    [updated] = running.updated
    assert updated.device.firmware_version == "v2.1.0"
    assert [(c.field, c.new_value.string_value) for c in updated.change.changes] == [("firmwareVersion", "v2.1.0")]
    assert running.bus.dead_letters == []


async def test_an_older_report_arriving_late_does_not_put_back_the_old_version(running: Running) -> None:
    device_id = await running.register()
    await running.bus.publish(JOB_STATUS_CHANGED, job_event(device_id, "v3.0.0", minutes=10))
    await running.bus.publish(JOB_STATUS_CHANGED, job_event(device_id, "v2.0.0", minutes=5))
    assert await running.firmware_of(device_id) == "v3.0.0"
    # A rollback job reports later still: the version it reinstalls is the device's now.
    rollback = job_event(device_id, "v2.0.0", minutes=20)
    rollback.operation = "rollback"
    await running.bus.publish(JOB_STATUS_CHANGED, rollback)
    assert await running.firmware_of(device_id) == "v2.0.0"


async def test_unknown_and_other_organizations_devices_are_ignored_without_dead_letters(running: Running) -> None:
    device_id = await running.register()
    await running.bus.publish(JOB_STATUS_CHANGED, job_event("dev-nobody", "v9"))
    await running.bus.publish(JOB_STATUS_CHANGED, job_event(device_id, "v9", org="org-other"))
    assert await running.firmware_of(device_id) == ""
    assert running.updated == []
    assert running.bus.dead_letters == []
