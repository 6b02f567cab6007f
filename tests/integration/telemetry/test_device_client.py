"""The device adapters against a real device service (its bootstrap, SQLite, a free port), as telemetry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import pytest
from iot.device.v1 import device_pb2

from services.kernel.errors import Unavailable
from services.telemetry.adapters.device_activity import GrpcDeviceActivitySink
from services.telemetry.adapters.device_directory import GrpcDeviceDirectory
from services.telemetry.bootstrap import TelemetrySettings
from services.telemetry.domain.model import DeviceActivity, DeviceInfo
from tests.integration.telemetry.support import (
    TelemetryStack,
    as_user,
    device_channel,
    register,
    telemetry_stack,
)
from tests.support.clocks import ManualClock
from tests.support.servers import free_port
from tests.support.tokens import TokenMinter


@pytest.fixture
async def stack(tmp_path: Path, token_minter: TokenMinter) -> AsyncIterator[TelemetryStack]:
    async with telemetry_stack(token_minter, tmp_path, TelemetrySettings(store="memory")) as running:
        yield running


@pytest.fixture
async def channel(stack: TelemetryStack, token_minter: TokenMinter, tmp_path: Path) -> AsyncIterator[grpc.aio.Channel]:
    async with device_channel(stack, token_minter, tmp_path, "telemetry") as opened:
        yield opened


async def test_lookup_finds_devices_of_every_organization_and_tells_deleted_ones(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    mine = await register(stack, token_minter)
    theirs = await register(stack, token_minter, org="org-2", deviceType="air-quality-v1")
    gone = await register(stack, token_minter)
    await stack.devices().DeleteDevice(
        device_pb2.DeleteDeviceRequest(device_id=gone), metadata=as_user(token_minter, role="admin")
    )
    directory = GrpcDeviceDirectory(channel)
    found = await directory.lookup([mine, theirs, gone, "dev-nobody"])
    assert found == {
        mine: DeviceInfo(mine, "org-1", "temperature-sensor-v2"),
        theirs: DeviceInfo(theirs, "org-2", "air-quality-v1"),
        gone: DeviceInfo(gone, "org-1", "temperature-sensor-v2", deleted=True),
    }


async def test_answers_are_cached_known_ones_longer_than_unknown_ones(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    clock = ManualClock()
    directory = GrpcDeviceDirectory(channel, positive_ttl=30, negative_ttl=5, clock=clock)
    device_id = await register(stack, token_minter)
    await directory.lookup([device_id, "dev-later"])
    await directory.lookup([device_id, "dev-later"])
    assert directory.calls == 1
    clock.now += 6
    assert await directory.lookup([device_id]) != {}
    assert directory.calls == 1, "the known device is still cached"
    await directory.lookup(["dev-later"])
    assert directory.calls == 2, "the unknown id is asked again after 5 s"
    clock.now += 30
    await directory.lookup([device_id])
    assert directory.calls == 3


async def test_device_events_on_the_bus_drop_the_cached_entry(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    directory = GrpcDeviceDirectory(channel)
    stack.bus.subscribe("device.#", directory.on_device_event)
    device_id = await register(stack, token_minter)
    assert not (await directory.lookup([device_id]))[device_id].deleted
    await stack.devices().DeleteDevice(
        device_pb2.DeleteDeviceRequest(device_id=device_id), metadata=as_user(token_minter, role="admin")
    )
    assert (await directory.lookup([device_id]))[device_id].deleted
    assert directory.calls == 2


async def test_many_ids_are_asked_in_chunks_the_device_service_accepts(channel: grpc.aio.Channel) -> None:
    directory = GrpcDeviceDirectory(channel)
    assert await directory.lookup([f"dev-{i}" for i in range(1200)]) == {}
    assert directory.calls == 3


async def test_an_unreachable_device_service_is_unavailable() -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") as dead:
        with pytest.raises(Unavailable):
            await GrpcDeviceDirectory(dead, timeout_seconds=0.5).lookup(["dev-1"])


async def test_activity_reaches_the_device_with_last_reading_and_status(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    device_id = await register(stack, token_minter)
    sink = GrpcDeviceActivitySink(channel)
    seen_ms = 1_763_200_800_000
    await sink.record([DeviceActivity(device_id, "org-1", seen_ms, {"temperature": 23.5, "co2": 450.0}, 3, 1)])
    device = (
        await stack.devices().GetDevice(
            device_pb2.GetDeviceRequest(device_id=device_id), metadata=as_user(token_minter)
        )
    ).device
    assert device.status == "online"
    assert device.last_seen.ToMilliseconds() == seen_ms
    assert dict(device.last_reading.fields)["temperature"].number_value == 23.5
    assert sink.calls == 1


async def test_small_activity_is_sent_at_once_when_no_call_is_in_flight(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    device_id = await register(stack, token_minter)
    sink = GrpcDeviceActivitySink(channel, min_interval_seconds=60)
    for i in range(3):
        await sink.record([DeviceActivity(device_id, "org-1", 1_763_200_800_000 + i, {"co2": float(i)}, 1, 0)])
        reply = await stack.devices().GetDevice(
            device_pb2.GetDeviceRequest(device_id=device_id), metadata=as_user(token_minter)
        )
        assert dict(reply.device.last_reading.fields)["co2"].number_value == float(i), "read your writes"
    assert sink.calls == 3


async def test_under_load_activity_is_coalesced_and_sent_an_interval_later(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    devices = [await register(stack, token_minter) for _ in range(3)]
    many = [f"dev-bulk-{i}" for i in range(100)]  # unknown to the device service: it skips them
    sink = GrpcDeviceActivitySink(channel, min_interval_seconds=0.3)
    batches = [
        [DeviceActivity(d, "org-1", 1_763_200_800_000 + i, {"co2": float(i)}, 1, 0) for d in [*devices, *many]]
        for i in range(6)
    ]
    started = time.monotonic()
    await asyncio.gather(*(sink.record(batch) for batch in batches))
    assert time.monotonic() - started < 0.3, "only the first batch waits for its call"
    assert sink.calls == 1
    await asyncio.sleep(0.6)
    assert sink.calls == 2, "the other five batches went together, one interval later"
    for device_id in devices:
        reply = await stack.devices().GetDevice(
            device_pb2.GetDeviceRequest(device_id=device_id), metadata=as_user(token_minter)
        )
        assert dict(reply.device.last_reading.fields)["co2"].number_value == 5.0
        assert reply.device.last_seen.ToMilliseconds() == 1_763_200_800_005


async def test_a_large_activity_soon_after_a_call_waits_for_the_interval(channel: grpc.aio.Channel) -> None:
    sink = GrpcDeviceActivitySink(channel, min_interval_seconds=60)
    many = [DeviceActivity(f"dev-bulk-{i}", "org-1", 1_763_200_800_000, {"co2": 1.0}, 1, 0) for i in range(100)]
    await sink.record(many)
    await sink.record(many)
    assert sink.calls == 1
    await sink.close()
    assert sink.calls == 2


async def test_pending_activity_is_sent_on_close(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    device_id = await register(stack, token_minter)
    sink = GrpcDeviceActivitySink(channel, min_interval_seconds=60)
    first = sink.record([DeviceActivity(device_id, "org-1", 1_763_200_800_000, {"co2": 1.0}, 1, 0)])
    second = sink.record([DeviceActivity(device_id, "org-1", 1_763_200_800_001, {"co2": 2.0}, 1, 2)])
    await asyncio.gather(first, second)
    assert sink.calls == 1, "the second came while the first was in flight"
    await sink.close()
    assert sink.calls == 2
    reply = await stack.devices().GetDevice(
        device_pb2.GetDeviceRequest(device_id=device_id), metadata=as_user(token_minter)
    )
    assert dict(reply.device.last_reading.fields)["co2"].number_value == 2.0


async def test_an_unreachable_device_service_does_not_fail_the_batch() -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") as dead:
        sink = GrpcDeviceActivitySink(dead, timeout_seconds=0.5)
        await sink.record([DeviceActivity("dev-1", "org-1", 1, {"co2": 1.0}, 1, 0)])
        assert sink.calls == 1
