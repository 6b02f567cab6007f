"""Telemetry activity: lastSeen, lastReading, status following data, and the counters data quality comes from."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.device.domain.commands import ActivityReport
from services.device.domain.errors import DeviceChangedConcurrently
from services.device.domain.liveness import MAX_ROUNDS
from services.device.domain.model import DeviceStatus, Reading, ReadingCounts, StatusChange
from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied, ValidationFailed
from tests.unit.device.builders import NOW, caller, make_device
from tests.unit.device.fakes import ConcurrentWriterRepository, Harness, ManualClock

TELEMETRY = Caller.service("telemetry")


@pytest.fixture
def harness() -> Harness:
    return Harness(clock=ManualClock(NOW))


async def test_a_fresh_reading_records_the_newest_values_and_brings_the_device_online(harness: Harness) -> None:
    device = make_device(status=DeviceStatus.OFFLINE)
    await harness.repository.add(device)
    seen = NOW - timedelta(seconds=10)
    reports = [
        ActivityReport(device.device_id, seen - timedelta(minutes=1), {"temperature": 21}, accepted=1),
        ActivityReport(device.device_id, seen, {"temperature": 23.5, "humidity": 45}, accepted=1),
    ]
    assert await harness.liveness.record_activity(TELEMETRY, reports) == 1
    stored = await harness.stored(device.device_id)
    assert stored.last_seen == seen
    assert stored.last_reading == Reading({"temperature": 23.5, "humidity": 45.0}, seen)
    assert stored.status is DeviceStatus.ONLINE
    assert stored.heartbeat_at == NOW
    assert stored.activity.status_changes == (StatusChange(NOW, DeviceStatus.ONLINE),)
    assert stored.activity.reading_counts == (ReadingCounts(NOW, 2, 0),)
    assert harness.events.published == [
        ("status_changed", device.device_id, (DeviceStatus.OFFLINE, DeviceStatus.ONLINE))
    ]


async def test_a_just_registered_device_goes_online_with_its_first_reading(harness: Harness) -> None:
    device = make_device()
    await harness.repository.add(device)
    await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, NOW, {"t": 1}, accepted=1)])
    assert (await harness.stored(device.device_id)).status is DeviceStatus.ONLINE


async def test_devices_of_every_organization_are_updated_for_a_service(harness: Harness) -> None:
    devices = [make_device(organization_id=f"org-{n}") for n in range(3)]
    for device in devices:
        await harness.repository.add(device)
    reports = [ActivityReport(d.device_id, NOW, {"t": 1}, accepted=1) for d in devices]
    assert await harness.liveness.record_activity(TELEMETRY, reports) == 3
    for device in devices:
        assert (await harness.stored(device.device_id, device.organization_id)).last_seen == NOW


async def test_users_cannot_record_activity_even_for_their_own_devices(harness: Harness) -> None:
    device = make_device()
    await harness.repository.add(device)
    with pytest.raises(PermissionDenied):
        await harness.liveness.record_activity(caller(Role.ADMIN), [ActivityReport(device.device_id, NOW, {"t": 1})])
    assert (await harness.stored(device.device_id)).last_seen is None


async def test_an_older_or_equal_reading_changes_neither_last_seen_nor_status(harness: Harness) -> None:
    device = make_device(status=DeviceStatus.OFFLINE, last_seen=NOW, last_reading=Reading({"t": 2.0}, NOW))
    await harness.repository.add(device)
    for seen in (NOW, NOW - timedelta(seconds=1)):
        assert (
            await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, seen, {"t": 1})]) == 0
        )
    assert await harness.stored(device.device_id) == device
    assert harness.events.published == []


async def test_maintenance_is_never_changed_by_activity(harness: Harness) -> None:
    device = make_device(status=DeviceStatus.MAINTENANCE)
    await harness.repository.add(device)
    assert await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, NOW, {"t": 1})]) == 1
    stored = await harness.stored(device.device_id)
    assert (stored.status, stored.last_seen) == (DeviceStatus.MAINTENANCE, NOW)
    assert harness.events.published == []


async def test_an_old_reading_arriving_now_is_a_sign_of_life_dated_by_its_arrival(harness: Harness) -> None:
    # A backlog being caught up on, or a device uploading what it buffered while it was disconnected.
    device = make_device(status=DeviceStatus.OFFLINE)
    await harness.repository.add(device)
    buffered = NOW - timedelta(hours=3)
    await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, buffered, {"t": 1})])
    stored = await harness.stored(device.device_id)
    assert (stored.status, stored.last_seen, stored.heartbeat_at) == (DeviceStatus.ONLINE, buffered, NOW)
    assert stored.last_reading == Reading({"t": 1.0}, buffered)


async def test_an_online_devices_heartbeat_moves_with_every_newer_reading(harness: Harness) -> None:
    device = make_device()
    await harness.repository.add(device)
    await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, NOW, {"t": 1})])
    assert isinstance(harness.clock, ManualClock)
    harness.clock.advance(timedelta(minutes=2))
    ahead = NOW + timedelta(minutes=2, seconds=20)  # a device clock a little fast
    await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, ahead, {"t": 2})])
    stored = await harness.stored(device.device_id)
    assert (stored.last_seen, stored.heartbeat_at) == (ahead, NOW + timedelta(minutes=2))
    harness.clock.advance(timedelta(minutes=1))
    await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, ahead, {"t": 3})])
    assert (await harness.stored(device.device_id)).heartbeat_at == NOW + timedelta(minutes=2), "not newer"


async def test_deleted_and_unknown_devices_are_left_alone(harness: Harness) -> None:
    deleted = make_device(status=DeviceStatus.DELETED)
    await harness.repository.add(deleted)
    reports = [ActivityReport(i, NOW, {"t": 1}, accepted=3) for i in [deleted.device_id, "dev-missing"]]
    assert await harness.liveness.record_activity(TELEMETRY, reports) == 0
    assert await harness.stored(deleted.device_id) == deleted


async def test_counts_add_up_per_hour_and_become_data_quality(harness: Harness) -> None:
    device = make_device()
    await harness.repository.add(device)
    await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, NOW, {"t": 1}, 60, 2)])
    assert isinstance(harness.clock, ManualClock)
    harness.clock.advance(timedelta(minutes=30))
    later = NOW + timedelta(minutes=30)
    await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, later, {"t": 1}, 37, 1)])
    harness.clock.advance(timedelta(minutes=31))
    # Only refused readings: nothing to show as lastReading, the counters still count them.
    await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, None, rejected=3)])
    stored = await harness.stored(device.device_id)
    assert stored.activity.reading_counts == (
        ReadingCounts(NOW, 97, 3),
        ReadingCounts(NOW + timedelta(hours=1), 0, 3),
    )
    assert stored.last_seen == later
    view = await harness.service.get(caller(Role.VIEWER), device.device_id)
    assert view.health is not None
    assert view.health.data_quality == 94.1  # 97 of 103, rounded down


async def test_reports_are_checked_field_by_field(harness: Harness) -> None:
    reports = [
        ActivityReport("dev-1", NOW, {"temperature": "hot", "ok": 1, "flag": True}),
        ActivityReport("dev-2", None, {"t": 1}),
        ActivityReport("dev-3", None, accepted=2),
        ActivityReport("dev-4", NOW, accepted=-1, rejected=-2),
        ActivityReport("", NOW),
        ActivityReport("dev-5", None, rejected=4),  # only refused readings: no time needed
    ]
    with pytest.raises(ValidationFailed) as refused:
        await harness.liveness.record_activity(TELEMETRY, reports)
    assert [v.field for v in refused.value.violations] == [
        "activities[0].lastReading.temperature",
        "activities[0].lastReading.flag",
        "activities[1].lastSeen",
        "activities[2].lastSeen",
        "activities[3].acceptedReadings",
        "activities[3].rejectedReadings",
        "activities[4].deviceId",
    ]


async def test_at_most_500_devices_per_call(harness: Harness) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await harness.liveness.record_activity(TELEMETRY, [ActivityReport(f"dev-{i}", NOW) for i in range(501)])
    assert [v.field for v in refused.value.violations] == ["activities"]


async def test_a_concurrent_write_is_read_again_and_the_activity_applied_once() -> None:
    harness = Harness(repository=ConcurrentWriterRepository(), clock=ManualClock(NOW))
    device = make_device()
    await harness.repository.add(device)
    report = ActivityReport(device.device_id, NOW, {"t": 1}, accepted=5)
    assert await harness.liveness.record_activity(TELEMETRY, [report]) == 1
    assert harness.repository.interfered == [device.device_id]
    stored = await harness.stored(device.device_id)
    assert stored.activity.reading_counts == (ReadingCounts(NOW, 5, 0),)
    assert harness.events.kinds() == ["status_changed"]


async def test_a_device_written_continuously_by_someone_else_is_reported_as_a_conflict() -> None:
    harness = Harness(repository=ConcurrentWriterRepository(interfere=MAX_ROUNDS), clock=ManualClock(NOW))
    device = make_device()
    await harness.repository.add(device)
    with pytest.raises(DeviceChangedConcurrently) as refused:
        await harness.liveness.record_activity(TELEMETRY, [ActivityReport(device.device_id, NOW, {"t": 1})])
    assert refused.value.reason == "DEVICE_CHANGED_CONCURRENTLY"
