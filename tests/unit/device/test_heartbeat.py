"""The heartbeat: online devices silent for longer than the timeout go offline, dated when the timeout expired."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.device.domain.commands import ActivityReport, UpdateDevice
from services.device.domain.liveness import SweepResult
from services.device.domain.model import Device, DeviceStatus, StatusChange
from services.device.heartbeat import HeartbeatSweeper
from services.kernel.caller import Caller, Role
from tests.unit.device.builders import NOW, caller, make_device
from tests.unit.device.fakes import ConcurrentWriterRepository, Harness, ManualClock

TELEMETRY = Caller.service("telemetry")
TIMEOUT = timedelta(minutes=5)


@pytest.fixture
def harness() -> Harness:
    return Harness(clock=ManualClock(NOW))


def advance(harness: Harness, delta: timedelta) -> None:
    assert isinstance(harness.clock, ManualClock)
    harness.clock.advance(delta)


async def online_device(harness: Harness, seen_ago: timedelta = timedelta(0), **overrides: object) -> Device:
    """A device brought online by a reading taken `seen_ago` before the current time."""
    device = make_device(**overrides)
    await harness.repository.add(device)
    now = harness.clock.now()
    await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, now - seen_ago, {"t": 1})])
    return await harness.stored(device.device_id, device.organization_id)


async def test_a_silent_device_goes_offline_from_the_moment_its_heartbeat_expired(harness: Harness) -> None:
    device = await online_device(harness, seen_ago=timedelta(seconds=30))
    harness.events.published.clear()
    advance(harness, TIMEOUT + timedelta(minutes=2))
    assert await harness.liveness.take_silent_devices_offline() == SweepResult(examined=1, taken_offline=1)
    stored = await harness.stored(device.device_id)
    assert stored.status is DeviceStatus.OFFLINE
    expired_at = NOW + TIMEOUT  # the reading arrived at NOW
    assert stored.activity.status_changes[-1] == StatusChange(expired_at, DeviceStatus.OFFLINE)
    assert harness.events.published == [
        ("status_changed", device.device_id, (DeviceStatus.ONLINE, DeviceStatus.OFFLINE))
    ]


async def test_a_device_heard_from_within_the_timeout_stays_online(harness: Harness) -> None:
    device = await online_device(harness)
    advance(harness, TIMEOUT)
    assert await harness.liveness.take_silent_devices_offline() == SweepResult(examined=0, taken_offline=0)
    advance(harness, timedelta(seconds=1))
    await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, harness.clock.now(), {"t": 2})])
    advance(harness, TIMEOUT - timedelta(seconds=1))
    await harness.liveness.take_silent_devices_offline()
    assert (await harness.stored(device.device_id)).status is DeviceStatus.ONLINE


async def test_only_online_devices_are_taken_offline(harness: Harness) -> None:
    others = [make_device(status=s, last_seen=NOW - TIMEOUT * 3) for s in DeviceStatus if s is not DeviceStatus.ONLINE]
    for device in others:
        await harness.repository.add(device)
    advance(harness, TIMEOUT * 2)
    assert (await harness.liveness.take_silent_devices_offline()).taken_offline == 0
    for device in others:
        assert await harness.stored(device.device_id) == device


async def test_a_device_set_online_by_hand_without_data_goes_offline_after_the_timeout(harness: Harness) -> None:
    device = make_device(created_by="user-1")
    await harness.repository.add(device)
    await harness.service.update(caller(Role.ADMIN), UpdateDevice(device.device_id, status="online"))
    assert (await harness.stored(device.device_id)).heartbeat_at == NOW
    advance(harness, TIMEOUT + timedelta(seconds=1))
    assert (await harness.liveness.take_silent_devices_offline()).taken_offline == 1


async def test_a_device_written_during_the_sweep_is_left_for_the_next_one() -> None:
    harness = Harness(clock=ManualClock(NOW))
    device = await online_device(harness)
    racing = Harness(repository=ConcurrentWriterRepository(), clock=harness.clock, events=harness.events)
    await racing.repository.add(device)
    harness.events.published.clear()
    advance(harness, TIMEOUT * 2)
    assert await racing.liveness.take_silent_devices_offline() == SweepResult(examined=1, taken_offline=0)
    assert (await racing.stored(device.device_id)).status is DeviceStatus.ONLINE
    assert harness.events.published == []
    assert (await racing.liveness.take_silent_devices_offline()).taken_offline == 1


async def test_the_sweeper_works_through_every_silent_device_a_batch_at_a_time(harness: Harness) -> None:
    silent = [await online_device(harness, organization_id=f"org-{n % 2}") for n in range(5)]
    advance(harness, TIMEOUT * 2)
    fresh = await online_device(harness)
    assert await HeartbeatSweeper(harness.liveness, interval_seconds=60, batch=2).sweep() == 5
    for device in silent:
        assert (await harness.stored(device.device_id, device.organization_id)).status is DeviceStatus.OFFLINE
    assert (await harness.stored(fresh.device_id)).status is DeviceStatus.ONLINE


async def test_uptime_reflects_the_time_a_device_was_silent(harness: Harness) -> None:
    device = await online_device(harness)
    advance(harness, timedelta(hours=2))  # silent: offline 5 minutes after the reading
    await harness.liveness.take_silent_devices_offline()
    await harness.liveness.record_activity(
        TELEMETRY, [ActivityReport(device.device_id, harness.clock.now(), {"t": 2}, accepted=1)]
    )
    advance(harness, timedelta(hours=1, minutes=55))
    view = await harness.service.get(caller(), device.device_id)
    assert view.health is not None
    # Online 5 min, offline 1 h 55 min, online 1 h 55 min: 120 of 235 minutes.
    assert view.health.uptime == 51.0
