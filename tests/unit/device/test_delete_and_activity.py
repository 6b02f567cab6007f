"""Deleting a device (§3.1.5) and recording telemetry activity."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.device.domain.commands import ActivityReport
from services.device.domain.errors import DeviceHasActiveAlerts, DeviceNotFound
from services.device.domain.model import DeviceStatus, Reading
from services.kernel.caller import Role
from services.kernel.errors import PermissionDenied, ValidationFailed
from tests.unit.device.builders import NOW, caller, make_device, registration
from tests.unit.device.fakes import FixedActiveAlerts, Harness

ADMIN = caller(Role.ADMIN, user="user-admin")


async def test_an_admin_soft_deletes_a_device_and_deactivates_its_credentials(harness: Harness) -> None:
    registered = await harness.service.register(caller(), registration())
    device_id = registered.device.device_id
    deleted = await harness.service.delete(ADMIN, device_id)
    assert deleted.status is DeviceStatus.DELETED
    assert deleted.deleted_at is not None
    assert deleted.deleted_at > registered.device.created_at
    assert await harness.repository.get("org-1", device_id) == deleted
    assert harness.registry.active_certificates() == []
    assert harness.alerts.asked == [device_id]
    assert harness.events.published[-1] == ("deleted", device_id, "user-admin")


async def test_deleting_twice_is_not_found(harness: Harness) -> None:
    device = make_device()
    await harness.repository.add(device)
    await harness.service.delete(ADMIN, device.device_id)
    with pytest.raises(DeviceNotFound):
        await harness.service.delete(ADMIN, device.device_id)
    with pytest.raises(DeviceNotFound):
        await harness.service.get(ADMIN, device.device_id)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_only_admins_delete(harness: Harness, role: Role) -> None:
    device = make_device(created_by="user-1")
    await harness.repository.add(device)
    with pytest.raises(PermissionDenied):
        await harness.service.delete(caller(role, user="user-1"), device.device_id)


async def test_a_device_with_active_alerts_is_not_deleted() -> None:
    harness = Harness(alerts=FixedActiveAlerts(3))
    device = make_device()
    await harness.repository.add(device)
    with pytest.raises(DeviceHasActiveAlerts) as refused:
        await harness.service.delete(ADMIN, device.device_id)
    assert refused.value.reason == "DEVICE_HAS_ACTIVE_ALERTS"
    assert refused.value.details == {"deviceId": device.device_id, "activeAlerts": "3"}
    assert await harness.repository.get("org-1", device.device_id) == device
    assert harness.events.published == []


async def test_a_deleted_devices_serial_number_can_be_registered_again(harness: Harness) -> None:
    first = await harness.service.register(caller(), registration())
    await harness.service.delete(ADMIN, first.device.device_id)
    second = await harness.service.register(caller(), registration())
    assert second.device.serial_number == first.device.serial_number


async def test_activity_records_the_newest_reading_and_brings_the_device_online(harness: Harness) -> None:
    device = make_device(status=DeviceStatus.OFFLINE)
    await harness.repository.add(device)
    seen = NOW + timedelta(minutes=5)
    reports = [
        ActivityReport(device.device_id, seen - timedelta(minutes=1), {"temperature": 21}),
        ActivityReport(device.device_id, seen, {"temperature": 23.5, "humidity": 45}),
    ]
    assert await harness.service.record_activity(caller(Role.VIEWER), reports) == 1
    stored = await harness.repository.get("org-1", device.device_id)
    assert stored is not None
    assert stored.last_seen == seen
    assert stored.last_reading == Reading({"temperature": 23.5, "humidity": 45.0}, seen)
    assert stored.status is DeviceStatus.ONLINE
    assert harness.events.published == [
        ("status_changed", device.device_id, (DeviceStatus.OFFLINE, DeviceStatus.ONLINE))
    ]


async def test_activity_older_than_what_is_known_changes_nothing(harness: Harness) -> None:
    device = make_device(status=DeviceStatus.MAINTENANCE, last_seen=NOW)
    await harness.repository.add(device)
    assert await harness.service.record_activity(ADMIN, [ActivityReport(device.device_id, NOW, {"t": 1})]) == 0
    later = NOW + timedelta(seconds=1)
    assert await harness.service.record_activity(ADMIN, [ActivityReport(device.device_id, later, {"t": 1})]) == 1
    stored = await harness.repository.get("org-1", device.device_id)
    assert stored is not None
    assert stored.status is DeviceStatus.MAINTENANCE
    assert harness.events.published == []


async def test_activity_ignores_deleted_unknown_and_foreign_devices(harness: Harness) -> None:
    deleted = make_device(status=DeviceStatus.DELETED)
    foreign = make_device(organization_id="org-2")
    for device in [deleted, foreign]:
        await harness.repository.add(device)
    reports = [ActivityReport(d, NOW, {}) for d in [deleted.device_id, foreign.device_id, "dev-missing"]]
    assert await harness.service.record_activity(ADMIN, reports) == 0


async def test_activity_values_must_be_numbers_and_the_time_is_required(harness: Harness) -> None:
    reports = [
        ActivityReport("dev-1", NOW, {"temperature": "hot", "ok": 1, "flag": True}),
        ActivityReport("dev-2", None, {}),
    ]
    with pytest.raises(ValidationFailed) as refused:
        await harness.service.record_activity(ADMIN, reports)
    assert [v.field for v in refused.value.violations] == [
        "activities[0].lastReading.temperature",
        "activities[0].lastReading.flag",
        "activities[1].lastSeen",
    ]
