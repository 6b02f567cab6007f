"""GrpcDeviceDirectory against a real device service built by its bootstrap, with the firmware service's token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import pytest
from iot.device.v1 import device_pb2

from services.firmware.adapters.device_directory import MAX_IDS_PER_CALL, GrpcDeviceDirectory
from services.firmware.domain.rollout.targets import TargetDevice
from services.kernel.errors import Unavailable
from services.runtime.clients import open_channel
from services.telemetry.bootstrap import TelemetrySettings
from tests.integration.device.test_device_state import activity, iso
from tests.integration.telemetry.support import (
    TelemetryStack,
    as_service,
    as_user,
    device_channel,
    register,
    telemetry_stack,
)
from tests.support.servers import free_port
from tests.support.tokens import TokenMinter


@pytest.fixture
async def stack(tmp_path: Path, token_minter: TokenMinter) -> AsyncIterator[TelemetryStack]:
    async with telemetry_stack(token_minter, tmp_path, TelemetrySettings(store="memory")) as running:
        yield running


@pytest.fixture
async def channel(stack: TelemetryStack, token_minter: TokenMinter, tmp_path: Path) -> AsyncIterator[grpc.aio.Channel]:
    async with device_channel(stack, token_minter, tmp_path, "firmware") as opened:
        yield opened


async def test_lookup_returns_the_organizations_devices_with_type_version_and_online_state(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    online = await register(stack, token_minter, org="org-1")
    idle = await register(stack, token_minter, org="org-1", deviceType="air-quality-v1", name="Lobby")
    theirs = await register(stack, token_minter, org="org-2")
    gone = await register(stack, token_minter, org="org-1", name="Gone")
    devices = stack.devices()
    await devices.RecordDeviceActivity(activity(online, lastSeen=iso()), metadata=as_service(token_minter))
    await devices.DeleteDevice(
        device_pb2.DeleteDeviceRequest(device_id=gone), metadata=as_user(token_minter, role="admin")
    )

    found = await GrpcDeviceDirectory(channel).lookup("org-1", [online, idle, theirs, gone, "dev-nobody", online])

    assert found == {
        online: TargetDevice(online, "temperature-sensor-v2", None, True),
        idle: TargetDevice(idle, "air-quality-v1", None, False),
    }
    assert await GrpcDeviceDirectory(channel).lookup("org-2", [online, theirs]) == {
        theirs: TargetDevice(theirs, "temperature-sensor-v2", None, False)
    }


async def test_more_ids_than_one_call_takes_are_asked_in_slices(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    mine = await register(stack, token_minter, org="org-1")
    ids = [f"dev-missing-{n}" for n in range(MAX_IDS_PER_CALL + 10)] + [mine]
    assert set(await GrpcDeviceDirectory(channel).lookup("org-1", ids)) == {mine}


async def test_an_unreachable_device_service_is_unavailable() -> None:
    async with open_channel(f"127.0.0.1:{free_port()}") as nowhere:
        with pytest.raises(Unavailable):
            await GrpcDeviceDirectory(nowhere, timeout_seconds=0.5).lookup("org-1", ["dev-1"])
