"""Deleting a device (§3.1.5)."""

from __future__ import annotations

import pytest

from services.device.domain.errors import DeviceHasActiveAlerts, DeviceNotFound
from services.device.domain.model import DeviceStatus, StatusChange
from services.kernel.caller import Role
from services.kernel.errors import PermissionDenied
from tests.unit.device.builders import caller, make_device, registration
from tests.unit.device.fakes import ConcurrentWriterRepository, FixedActiveAlerts, Harness

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
    assert deleted.activity.status_changes == (StatusChange(deleted.deleted_at, DeviceStatus.DELETED),)


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


async def test_a_delete_meeting_a_concurrent_write_reads_again_and_deletes() -> None:
    harness = Harness(repository=ConcurrentWriterRepository())
    device = make_device()
    await harness.repository.add(device)
    await harness.service.delete(ADMIN, device.device_id)
    assert harness.repository.interfered == [device.device_id]
    assert (await harness.stored(device.device_id)).is_deleted


async def test_a_deleted_devices_serial_number_can_be_registered_again(harness: Harness) -> None:
    first = await harness.service.register(caller(), registration())
    await harness.service.delete(ADMIN, first.device.device_id)
    second = await harness.service.register(caller(), registration())
    assert second.device.serial_number == first.device.serial_number
