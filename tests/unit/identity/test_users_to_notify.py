"""Phone numbers on the profile and the internal listing the notification service reads."""

from __future__ import annotations

import pytest

from services.kernel.caller import Caller
from services.kernel.errors import PermissionDenied, ValidationFailed
from tests.unit.identity.world import ORG, World, fields_of


@pytest.mark.parametrize(
    ("given", "stored"),
    [("+15555550100", "+15555550100"), ("+1 (555) 555-0100", "+15555550100"), ("+33 6 12 34 56 78", "+33612345678")],
)
async def test_a_phone_number_is_stored_in_e164(world: World, given: str, stored: str) -> None:
    updated = await world.service.update_profile(world.caller(world.admin), None, None, phone_number=given)
    assert updated.phone_number == stored
    assert (await world.users.get(world.admin.user_id)) == updated
    assert world.events.published[-1][0] == "updated"


@pytest.mark.parametrize("given", ["5555550100", "+0123456", "+1555555010012345", "call me"])
async def test_a_phone_number_that_is_not_e164_is_refused(world: World, given: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.service.update_profile(world.caller(world.admin), "Name", None, phone_number=given)
    assert fields_of(caught.value) == ["phoneNumber"]
    assert (await world.users.get(world.admin.user_id)) == world.admin


async def test_an_empty_phone_number_removes_it(world: World) -> None:
    caller = world.caller(world.admin)
    await world.service.update_profile(caller, None, None, phone_number="+15555550100")
    cleared = await world.service.update_profile(caller, None, None, phone_number="")
    assert cleared.phone_number is None


async def test_a_service_lists_every_user_of_one_organization(world: World) -> None:
    viewer = await world.add("viewer@example.com")
    await world.add("elsewhere@example.com", org="org-other")
    users = await world.service.users_to_notify(Caller.service("notification"), ORG)
    assert [u.user_id for u in users] == [world.admin.user_id, viewer.user_id]


async def test_users_cannot_list_users_to_notify(world: World) -> None:
    with pytest.raises(PermissionDenied):
        await world.service.users_to_notify(world.caller(world.admin), ORG)


async def test_the_organization_is_required(world: World) -> None:
    with pytest.raises(ValidationFailed):
        await world.service.users_to_notify(Caller.service("notification"), "")
