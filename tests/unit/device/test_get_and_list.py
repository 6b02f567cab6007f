"""Getting (§3.1.2) and listing (§3.1.3) devices, batch lookups, and organization boundaries."""

from __future__ import annotations

import pytest

from services.device.domain.commands import ListDevices
from services.device.domain.errors import DeviceNotFound
from services.device.domain.model import DeviceStatus
from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied, ValidationFailed
from tests.unit.device.builders import caller, make_device
from tests.unit.device.fakes import Harness

TELEMETRY = Caller.service("telemetry")


@pytest.mark.parametrize("role", list(Role))
async def test_any_role_of_the_organization_gets_a_device(harness: Harness, role: Role) -> None:
    device = make_device()
    await harness.repository.add(device)
    view = await harness.service.get(caller(role, user="someone-else"), device.device_id)
    assert view.device == device
    assert view.health is None, "no health before any activity"


async def test_another_organizations_device_is_not_found(harness: Harness) -> None:
    device = make_device(organization_id="org-2")
    await harness.repository.add(device)
    with pytest.raises(DeviceNotFound) as refused:
        await harness.service.get(caller(org="org-1"), device.device_id)
    assert refused.value.reason == "DEVICE_NOT_FOUND"
    assert refused.value.details == {"deviceId": device.device_id}
    assert refused.value.message == f"Device with ID '{device.device_id}' not found"


async def test_a_deleted_device_is_not_found(harness: Harness) -> None:
    device = make_device(status=DeviceStatus.DELETED)
    await harness.repository.add(device)
    with pytest.raises(DeviceNotFound):
        await harness.service.get(caller(), device.device_id)


async def test_list_defaults_to_the_callers_organization_and_echoes_filters(harness: Harness) -> None:
    online = make_device(name="alpha", status=DeviceStatus.ONLINE)
    await harness.repository.add(online)
    await harness.repository.add(make_device(name="beta", status=DeviceStatus.OFFLINE))
    await harness.repository.add(make_device(name="gamma", status=DeviceStatus.ONLINE, organization_id="org-2"))
    command = ListDevices(status="online", device_type="temperature-sensor-v2")
    listing = await harness.service.list_devices(caller(Role.VIEWER), command)
    assert [v.device for v in listing.page.items] == [online]
    assert listing.page.total_items == 1
    assert listing.filters == {"status": "online", "deviceType": "temperature-sensor-v2"}


async def test_list_naming_the_callers_organization_is_allowed(harness: Harness) -> None:
    await harness.repository.add(make_device())
    listing = await harness.service.list_devices(caller(), ListDevices(organization_id="org-1"))
    assert listing.page.total_items == 1


async def test_list_of_another_organization_is_forbidden(harness: Harness) -> None:
    with pytest.raises(PermissionDenied) as refused:
        await harness.service.list_devices(caller(org="org-1"), ListDevices(organization_id="org-2"))
    assert refused.value.details == {"organizationId": "org-2"}


async def test_list_page_size_is_capped(harness: Harness) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await harness.service.list_devices(caller(), ListDevices(page_size=101))
    assert [v.field for v in refused.value.violations] == ["pageSize"]


async def test_list_pages_through_devices_sorted_by_name(harness: Harness) -> None:
    for name in ["delta", "alpha", "Charlie", "bravo"]:
        await harness.repository.add(make_device(name=name))
    command = ListDevices(page=2, page_size=3, sort_order="desc")
    listing = await harness.service.list_devices(caller(), command)
    assert [v.device.name for v in listing.page.items] == ["alpha"]
    assert (listing.page.total_pages, listing.page.has_previous, listing.page.has_next) == (2, True, False)


async def test_batch_get_returns_live_devices_of_the_organization_in_the_order_asked(harness: Harness) -> None:
    first, second = make_device(), make_device()
    deleted = make_device(status=DeviceStatus.DELETED)
    foreign = make_device(organization_id="org-2")
    for device in [first, second, deleted, foreign]:
        await harness.repository.add(device)
    asked = [second.device_id, deleted.device_id, foreign.device_id, "dev-missing", first.device_id, second.device_id]
    found = await harness.service.batch_get(caller(Role.VIEWER), asked)
    assert found == [second, first]


async def test_a_service_batch_gets_devices_of_every_organization(harness: Harness) -> None:
    mine, foreign = make_device(), make_device(organization_id="org-2")
    deleted = make_device(organization_id="org-3", status=DeviceStatus.DELETED)
    for device in [mine, foreign, deleted]:
        await harness.repository.add(device)
    asked = [foreign.device_id, deleted.device_id, "dev-missing", mine.device_id]
    assert await harness.service.batch_get(TELEMETRY, asked) == [foreign, mine]
    with_deleted = await harness.service.batch_get(TELEMETRY, asked, include_deleted=True)
    assert with_deleted == [foreign, deleted, mine]
    assert with_deleted[1].status is DeviceStatus.DELETED


async def test_a_user_asking_for_deleted_devices_still_sees_only_their_organization(harness: Harness) -> None:
    deleted = make_device(status=DeviceStatus.DELETED)
    foreign = make_device(organization_id="org-2", status=DeviceStatus.DELETED)
    for device in [deleted, foreign]:
        await harness.repository.add(device)
    found = await harness.service.batch_get(caller(), [deleted.device_id, foreign.device_id], include_deleted=True)
    assert found == [deleted]


async def test_batch_get_is_limited_to_500_ids(harness: Harness) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await harness.service.batch_get(caller(), [f"dev-{i}" for i in range(501)])
    assert [v.field for v in refused.value.violations] == ["deviceIds"]


async def test_changes_of_another_organizations_device_are_not_found(harness: Harness) -> None:
    device = make_device(organization_id="org-2")
    await harness.repository.add(device)
    with pytest.raises(DeviceNotFound):
        await harness.service.list_changes(caller(org="org-1"), device.device_id, None, None)
