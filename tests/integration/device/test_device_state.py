"""Device state from telemetry over a real gRPC port, on SQLite and on DynamoDB (moto): activity recorded by a
service principal, the heartbeat running as the service's background task with a short timeout and a fake
clock, and GET /devices/{id} showing lastSeen, lastReading, status and health in the spec's shape (§3.1.2).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf import json_format
from iot.device.v1 import device_pb2, device_pb2_grpc, events_pb2

from services.device.bootstrap import DeviceSettings
from services.device.domain.listing import instant_key
from services.kernel.ids import new_id
from services.runtime.server import RunningServer
from tests.integration.device.support import (
    DeviceStack,
    alerting_registration,
    as_service,
    as_user,
    device_stack,
    serve,
)
from tests.integration.device.test_servicer import as_json, register_request
from tests.integration.runtime.test_grpc_server import details_of
from tests.support.moto import REGION
from tests.support.tokens import TokenMinter
from tests.unit.device.builders import NOW
from tests.unit.device.fakes import ManualClock

TIMEOUT_SECONDS = 60


@pytest.fixture
async def alerting(token_minter: TokenMinter) -> AsyncIterator[RunningServer]:
    running = await serve(token_minter, [alerting_registration()])
    yield running
    await running.stop(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture(params=["sqlite", "dynamodb"])
async def stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    token_minter: TokenMinter,
    alerting: RunningServer,
    clock: ManualClock,
) -> AsyncIterator[DeviceStack]:
    settings = DeviceSettings(
        store=request.param,
        heartbeat_timeout_seconds=TIMEOUT_SECONDS,
        heartbeat_sweep_seconds=0.05,
    )
    if request.param == "dynamodb":
        endpoint = request.getfixturevalue("moto_endpoint")
        settings = settings.model_copy(
            update={"dynamodb_table": f"devices-{new_id('t')}", "aws_endpoint_url": endpoint, "aws_region": REGION}
        )
    async with device_stack(token_minter, tmp_path / "data", alerting.address, settings, clock) as running:
        yield running


@pytest.fixture
async def stub(stack: DeviceStack) -> AsyncIterator[device_pb2_grpc.DeviceServiceAsyncStub]:
    async with grpc.aio.insecure_channel(stack.address) as channel:
        yield device_pb2_grpc.DeviceServiceStub(channel)


def iso(delta: timedelta = timedelta(0)) -> str:
    return instant_key(NOW + delta).replace(".000000Z", "Z")


def activity(device_id: str, **fields: Any) -> device_pb2.RecordDeviceActivityRequest:
    return json_format.ParseDict(
        {"activities": [{"deviceId": device_id, **fields}]}, device_pb2.RecordDeviceActivityRequest()
    )


async def get_device(stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter, device_id: str) -> Any:
    reply = await stub.GetDevice(device_pb2.GetDeviceRequest(device_id=device_id), metadata=as_user(token_minter))
    return as_json(reply.device)


async def test_activity_then_silence_shows_in_the_device_and_in_events(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, stack: DeviceStack, token_minter: TokenMinter, clock: ManualClock
) -> None:
    device_id = (await stub.RegisterDevice(register_request(), metadata=as_user(token_minter))).device_id
    assert "health" not in await get_device(stub, token_minter, device_id), "no health before any data"

    reading = {"temperature": 23.5, "humidity": 45, "co2": 450, "timestamp": iso(-timedelta(seconds=2))}
    report = activity(
        device_id, lastSeen=reading["timestamp"], lastReading=reading, acceptedReadings=197, rejectedReadings=3
    )
    assert (await stub.RecordDeviceActivity(report, metadata=as_service(token_minter))).updated == 1
    device = await get_device(stub, token_minter, device_id)
    assert device["status"] == "online"
    assert device["lastSeen"] == reading["timestamp"]
    assert device["lastReading"] == {
        "temperature": 23.5,
        "humidity": 45.0,
        "co2": 450.0,
        "timestamp": iso(-timedelta(seconds=2)),
    }
    assert device["health"] == {"uptime": 100.0, "dataQuality": 98.5}

    clock.advance(timedelta(seconds=TIMEOUT_SECONDS + 1))
    device = await wait_for_status(stub, token_minter, device_id, "offline")
    # Online from NOW until the heartbeat expired 60 s later, offline for the second since: 60 of 61 s.
    assert device["health"] == {"uptime": 98.3, "dataQuality": 98.5}
    assert stack.routing_keys() == ["device.registered", "device.status_changed", "device.status_changed"]
    went_offline = events_pb2.DeviceStatusChanged.FromString(stack.events[-1][1])
    assert (went_offline.device_id, went_offline.previous_status, went_offline.status) == (
        device_id,
        "online",
        "offline",
    )
    assert went_offline.meta.organization_id == "org-1"
    assert went_offline.meta.actor_user_id == ""


async def wait_for_status(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter, device_id: str, status: str
) -> Any:
    """The heartbeat runs every 50 ms in the background; give it a few seconds at most."""
    for _ in range(100):
        device = await get_device(stub, token_minter, device_id)
        if device["status"] == status:
            return device
        await asyncio.sleep(0.05)
    raise AssertionError(f"{device_id} did not become {status}: {device}")


async def test_a_service_batch_gets_devices_of_every_organization_deleted_ones_when_asked(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter
) -> None:
    mine = await stub.RegisterDevice(register_request(), metadata=as_user(token_minter))
    theirs = await stub.RegisterDevice(register_request(), metadata=as_user(token_minter, org="org-2"))
    admin_2 = as_user(token_minter, role="admin", org="org-2")
    await stub.DeleteDevice(device_pb2.DeleteDeviceRequest(device_id=theirs.device_id), metadata=admin_2)
    asked = [theirs.device_id, "dev-missing", mine.device_id]
    telemetry = as_service(token_minter)

    live = await stub.BatchGetDevices(device_pb2.BatchGetDevicesRequest(device_ids=asked), metadata=telemetry)
    assert [d.device_id for d in live.devices] == [mine.device_id]
    every = await stub.BatchGetDevices(
        device_pb2.BatchGetDevicesRequest(device_ids=asked, include_deleted=True), metadata=telemetry
    )
    assert [(d.device_id, d.organization_id, d.status) for d in every.devices] == [
        (theirs.device_id, "org-2", "deleted"),
        (mine.device_id, "org-1", "registered"),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.BatchGetDevices(device_pb2.BatchGetDevicesRequest(device_ids=asked), metadata=as_user(token_minter))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_refused_readings_alone_count_and_bad_reports_name_the_field(
    stub: device_pb2_grpc.DeviceServiceAsyncStub, token_minter: TokenMinter
) -> None:
    device_id = (await stub.RegisterDevice(register_request(), metadata=as_user(token_minter))).device_id
    telemetry = as_service(token_minter)
    await stub.RecordDeviceActivity(activity(device_id, rejectedReadings=4), metadata=telemetry)
    device = await get_device(stub, token_minter, device_id)
    assert (device["status"], device["health"]) == ("registered", {"uptime": 0.0, "dataQuality": 0.0})
    assert "lastSeen" not in device

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.RecordDeviceActivity(activity(device_id, acceptedReadings=2), metadata=telemetry)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(refused.value)[2] == ["activities[0].lastSeen"]
