"""The ActiveAlerts gRPC adapter against real servers: a placeholder, a fake alerting service, nothing at all.

The last tests go through the device service itself: DeleteDevice refused with 409 or 503.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.protobuf import json_format
from iot.device.v1 import device_pb2, device_pb2_grpc

from services.device.adapters.alerting_client import GrpcActiveAlerts
from services.device.bootstrap import DeviceSettings
from services.kernel.errors import Unavailable
from services.runtime.clients import open_channel
from services.runtime.context import token_var
from services.runtime.server import RunningServer
from services.runtime.service_tokens import ServiceTokens
from services.runtime.settings import RuntimeSettings
from tests.integration.device.support import ThreeActiveAlerts, alerting_registration, as_user, device_stack, serve
from tests.integration.runtime.test_grpc_server import details_of
from tests.support.servers import free_port
from tests.support.tokens import TokenMinter


def act_as_caller(token_minter: TokenMinter) -> None:
    # What the auth interceptor does for an incoming call: a user's token is in the context. The adapter
    # must not forward it — CountActiveAlerts is internal, so the device service asks as itself.
    token_var.set(token_minter.mint(org="org-5", role="admin"))


def device_service_channel(token_minter: TokenMinter, address: str) -> grpc.aio.Channel:
    settings = RuntimeSettings(service_token_file=token_minter.service_token_file("device"))
    return open_channel(address, service_tokens=ServiceTokens(settings, "device"))


@pytest.fixture
async def placeholder(token_minter: TokenMinter) -> AsyncIterator[RunningServer]:
    running = await serve(token_minter, [alerting_registration()])
    yield running
    await running.stop(0)


async def test_a_placeholder_alerting_service_means_no_active_alerts(
    placeholder: RunningServer, token_minter: TokenMinter, caplog: pytest.LogCaptureFixture
) -> None:
    act_as_caller(token_minter)
    channel = device_service_channel(token_minter, placeholder.address)
    alerts = GrpcActiveAlerts(channel)
    with caplog.at_level(logging.WARNING, logger="iotmon.device.alerting"):
        assert await alerts.count_active("dev-1") == 0
        assert await alerts.count_active("dev-2") == 0
    await channel.close()
    warnings = [r for r in caplog.records if r.name == "iotmon.device.alerting"]
    assert len(warnings) == 1


async def test_the_count_comes_from_the_alerting_service_asked_as_the_device_service(token_minter: TokenMinter) -> None:
    act_as_caller(token_minter)
    fake = ThreeActiveAlerts()
    running = await serve(token_minter, [alerting_registration(fake)])
    channel = device_service_channel(token_minter, running.address)
    try:
        assert await GrpcActiveAlerts(channel).count_active("dev-9") == 3
    finally:
        await channel.close()
        await running.stop(0)
    assert fake.asked_by == [("*", "dev-9")]


async def test_an_unreachable_alerting_service_is_unavailable(token_minter: TokenMinter) -> None:
    act_as_caller(token_minter)
    channel = device_service_channel(token_minter, f"127.0.0.1:{free_port()}")
    try:
        with pytest.raises(Unavailable) as refused:
            await GrpcActiveAlerts(channel, timeout_seconds=2).count_active("dev-1")
    finally:
        await channel.close()
    assert refused.value.reason == "UPSTREAM_UNAVAILABLE"


async def delete_through_the_device_service(
    token_minter: TokenMinter, data_dir: Path, alerting_addr: str
) -> grpc.aio.AioRpcError:
    settings = DeviceSettings(store="sqlite", registry="embedded")
    async with (
        device_stack(token_minter, data_dir, alerting_addr, settings) as stack,
        grpc.aio.insecure_channel(stack.address) as channel,
    ):
        stub = device_pb2_grpc.DeviceServiceStub(channel)
        request = json_format.ParseDict(
            {"deviceType": "t", "name": "Sensor-1", "location": {"lat": 1, "lon": 2}},
            device_pb2.RegisterDeviceRequest(),
        )
        device = await stub.RegisterDevice(request, metadata=as_user(token_minter))
        admin = as_user(token_minter, role="admin")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.DeleteDevice(device_pb2.DeleteDeviceRequest(device_id=device.device_id), metadata=admin)
        # Refused before anything changed: the device is still there.
        still = await stub.GetDevice(device_pb2.GetDeviceRequest(device_id=device.device_id), metadata=admin)
        assert still.device.status == "registered"
    return refused.value


async def test_a_device_with_active_alerts_is_not_deleted(token_minter: TokenMinter, tmp_path: Path) -> None:
    fake = ThreeActiveAlerts()
    alerting = await serve(token_minter, [alerting_registration(fake)])
    try:
        error = await delete_through_the_device_service(token_minter, tmp_path, alerting.address)
    finally:
        await alerting.stop(0)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    reason, details, _ = details_of(error)
    assert reason == "DEVICE_HAS_ACTIVE_ALERTS"
    assert details["activeAlerts"] == "3"
    assert [org for org, _ in fake.asked_by] == ["*"]


async def test_deleting_while_alerting_is_down_is_unavailable(token_minter: TokenMinter, tmp_path: Path) -> None:
    error = await delete_through_the_device_service(token_minter, tmp_path, f"127.0.0.1:{free_port()}")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert details_of(error)[0] == "UPSTREAM_UNAVAILABLE"
