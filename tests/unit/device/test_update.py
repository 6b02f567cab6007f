"""Updating a device (§3.1.4): allowed fields, owner-or-admin permission, change history, events."""

from __future__ import annotations

import pytest

from services.device.domain.commands import UpdateDevice
from services.device.domain.errors import (
    DeviceAccessDenied,
    DeviceAlreadyExists,
    DeviceChangedConcurrently,
    DeviceNotFound,
    InvalidDeviceData,
)
from services.device.domain.model import DeviceStatus, FieldChange, Location, StatusChange
from services.device.domain.service import MAX_ATTEMPTS
from services.kernel.caller import Role
from services.kernel.errors import PermissionDenied
from tests.unit.device.builders import caller, make_device
from tests.unit.device.fakes import ConcurrentWriterRepository, Harness


async def stored(harness: Harness, **overrides: object) -> str:
    device = make_device(created_by="user-owner", **overrides)
    await harness.repository.add(device)
    return device.device_id


async def test_the_operator_who_registered_the_device_updates_it(harness: Harness) -> None:
    device_id = await stored(harness, metadata={"serialNumber": "SN-1"})
    owner = caller(Role.OPERATOR, user="user-owner")
    command = UpdateDevice(
        device_id,
        name="Renamed-Sensor",
        location=Location(1.5, 2.5, "Lab 2"),
        tags=["lab", "lab"],
        metadata={"serialNumber": "SN-1", "model": "TSv3"},
        status="maintenance",
    )
    updated = (await harness.service.update(owner, command)).device
    assert updated.name == "Renamed-Sensor"
    assert updated.location == Location(1.5, 2.5, "Lab 2")
    assert updated.tags == ("lab",)
    assert updated.metadata == {"serialNumber": "SN-1", "model": "TSv3"}
    assert updated.status is DeviceStatus.MAINTENANCE
    assert updated.updated_at > updated.created_at
    assert await harness.repository.get("org-1", device_id) == updated


async def test_one_change_entry_lists_every_changed_field_with_old_and_new_values(harness: Harness) -> None:
    device_id = await stored(harness)
    admin = caller(Role.ADMIN, user="user-admin")
    await harness.service.update(admin, UpdateDevice(device_id, name="Renamed-Sensor", tags=["office", "x"]))
    page = await harness.service.list_changes(admin, device_id, None, None)
    assert page.total_items == 1
    change = page.items[0]
    assert change.changed_by == "user-admin"
    assert change.changes == (
        FieldChange("name", "Office-Temp-Sensor-1", "Renamed-Sensor"),
        FieldChange("tags", ["office", "building-a"], ["office", "x"]),
    )
    kind, _, published = harness.events.published[-1]
    assert kind == "updated"
    assert published == change


async def test_changes_are_listed_newest_first(harness: Harness) -> None:
    device_id = await stored(harness)
    admin = caller(Role.ADMIN)
    for name in ["First-Name", "Second-Name", "Third-Name"]:
        await harness.service.update(admin, UpdateDevice(device_id, name=name))
    page = await harness.service.list_changes(caller(Role.VIEWER), device_id, 1, 2)
    assert [c.changes[0].new_value for c in page.items] == ["Third-Name", "Second-Name"]
    assert page.total_items == 3


async def test_an_update_that_changes_nothing_records_nothing(harness: Harness) -> None:
    device_id = await stored(harness)
    before = await harness.repository.get("org-1", device_id)
    after = (
        await harness.service.update(caller(Role.ADMIN), UpdateDevice(device_id, name="Office-Temp-Sensor-1"))
    ).device
    assert after == before
    assert (await harness.service.list_changes(caller(), device_id, None, None)).total_items == 0
    assert harness.events.published == []


async def test_a_status_change_publishes_status_changed(harness: Harness) -> None:
    device_id = await stored(harness, status=DeviceStatus.ONLINE)
    await harness.service.update(caller(Role.ADMIN, user="user-admin"), UpdateDevice(device_id, status="offline"))
    assert harness.events.kinds() == ["updated", "status_changed"]
    assert harness.events.published[1][2] == (DeviceStatus.ONLINE, DeviceStatus.OFFLINE)


async def test_viewers_cannot_update(harness: Harness) -> None:
    device_id = await stored(harness)
    with pytest.raises(PermissionDenied):
        await harness.service.update(caller(Role.VIEWER), UpdateDevice(device_id, name="Renamed-Sensor"))


async def test_an_operator_cannot_update_someone_elses_device(harness: Harness) -> None:
    device_id = await stored(harness)
    with pytest.raises(DeviceAccessDenied) as refused:
        await harness.service.update(caller(Role.OPERATOR, user="user-other"), UpdateDevice(device_id, name="Mine-Now"))
    assert refused.value.reason == "FORBIDDEN"


async def test_an_admin_updates_any_device_of_the_organization(harness: Harness) -> None:
    device_id = await stored(harness)
    updated = (await harness.service.update(caller(Role.ADMIN, user="user-x"), UpdateDevice(device_id, tags=[]))).device
    assert updated.tags == ()


async def test_another_organizations_device_is_not_found(harness: Harness) -> None:
    device_id = await stored(harness, organization_id="org-2")
    with pytest.raises(DeviceNotFound):
        await harness.service.update(caller(Role.ADMIN, org="org-1"), UpdateDevice(device_id, name="Renamed"))


async def test_an_empty_update_is_a_validation_error(harness: Harness) -> None:
    device_id = await stored(harness)
    with pytest.raises(InvalidDeviceData):
        await harness.service.update(caller(Role.ADMIN), UpdateDevice(device_id))


async def test_a_metadata_value_that_is_not_a_string_names_the_key(harness: Harness) -> None:
    device_id = await stored(harness)
    with pytest.raises(InvalidDeviceData) as refused:
        await harness.service.update(caller(Role.ADMIN), UpdateDevice(device_id, metadata={"floor": 3}))
    assert [v.field for v in refused.value.violations] == ["metadata.floor"]


async def test_changing_the_serial_number_keeps_it_unique(harness: Harness) -> None:
    holder = await stored(harness, metadata={"serialNumber": "SN-1"})
    device_id = await stored(harness, metadata={"serialNumber": "SN-2"})
    with pytest.raises(DeviceAlreadyExists) as refused:
        await harness.service.update(caller(Role.ADMIN), UpdateDevice(device_id, metadata={"serialNumber": "SN-1"}))
    assert refused.value.details == {"serialNumber": "SN-1", "deviceId": holder}
    moved = await harness.service.update(caller(Role.ADMIN), UpdateDevice(device_id, metadata={"serialNumber": "SN-3"}))
    assert moved.device.serial_number == "SN-3"


async def test_a_manual_status_change_is_logged_for_uptime(harness: Harness) -> None:
    device_id = await stored(harness, status=DeviceStatus.ONLINE)
    updated = await harness.service.update(caller(Role.ADMIN), UpdateDevice(device_id, status="maintenance"))
    assert updated.device.activity.status_changes == (
        StatusChange(updated.device.updated_at, DeviceStatus.MAINTENANCE),
    )


async def test_an_update_meeting_a_concurrent_write_is_applied_to_the_fresh_device() -> None:
    harness = Harness(repository=ConcurrentWriterRepository())
    device_id = await stored(harness)
    await harness.service.update(caller(Role.ADMIN), UpdateDevice(device_id, name="Renamed-Sensor"))
    assert harness.repository.interfered == [device_id]
    assert (await harness.stored(device_id)).name == "Renamed-Sensor"
    assert (await harness.service.list_changes(caller(), device_id, None, None)).total_items == 1
    assert harness.events.kinds() == ["updated"]


async def test_an_update_that_keeps_meeting_concurrent_writes_is_a_conflict() -> None:
    harness = Harness(repository=ConcurrentWriterRepository(interfere=MAX_ATTEMPTS))
    device_id = await stored(harness)
    with pytest.raises(DeviceChangedConcurrently):
        await harness.service.update(caller(Role.ADMIN), UpdateDevice(device_id, name="Renamed-Sensor"))
    assert (await harness.stored(device_id)).name == "Office-Temp-Sensor-1"
    assert harness.events.published == []
