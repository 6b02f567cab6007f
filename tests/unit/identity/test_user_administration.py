"""Admin use cases: creating, listing, reading users and changing roles, within one organization."""

from __future__ import annotations

import pytest

from services.identity.adapters.memory import InMemoryUserRepository
from services.identity.domain.errors import LastAdmin, UserAlreadyExists, UserNotFound
from services.identity.domain.model import User
from services.identity.domain.preferences import PreferencesPatch, QuietHoursPatch
from services.identity.domain.service import IdentityService, NewUser
from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied, ValidationFailed
from tests.unit.identity.fakes import FakeIdentityProvider, RecordingUserEvents, SteppingClock
from tests.unit.identity.world import ORG, World, fields_of

# Creating users


async def test_admin_creates_a_user_with_defaults_and_an_event(world: World) -> None:
    created = await world.service.create_user(
        world.caller(world.admin), NewUser(" Jane@Example.com", " Jane Doe ", "operator", "password1")
    )
    user = created.user
    assert user.user_id.startswith("user-")
    assert (user.email, user.name, user.role, user.organization_id) == (
        "jane@example.com",
        "Jane Doe",
        Role.OPERATOR,
        ORG,
    )
    assert user.preferences.notifications.email is True
    assert user.preferences.quiet_hours.timezone == "UTC"
    assert created.temporary_password is None
    assert await world.users.get(user.user_id) == user
    assert world.provider.passwords[user.user_id] == "password1"
    assert world.provider.logins[user.user_id].role == Role.OPERATOR
    assert world.events.published == [("created", user, world.admin.user_id)]


async def test_without_a_password_a_temporary_one_is_generated_and_works(world: World) -> None:
    created = await world.service.create_user(world.caller(world.admin), NewUser("t@example.com", "T", "viewer"))
    assert created.temporary_password is not None
    assert len(created.temporary_password) >= 8
    issued = await world.service.issue_token("t@example.com", created.temporary_password)
    assert issued.access_token == f"token-for-{created.user.user_id}"


async def test_the_user_id_is_the_subject_the_provider_chose(world: World) -> None:
    world.provider.subject_prefix = "cognito-sub-"
    created = await world.service.create_user(
        world.caller(world.admin), NewUser("c@example.com", "C", "viewer", "p" * 8)
    )
    assert created.user.user_id.startswith("cognito-sub-user-")
    assert await world.users.get(created.user.user_id) is not None


async def test_an_empty_role_means_viewer(world: World) -> None:
    created = await world.service.create_user(world.caller(world.admin), NewUser("v@example.com", "V", "", "p" * 8))
    assert created.user.role == Role.VIEWER


async def test_preferences_given_at_creation_merge_onto_the_defaults(world: World) -> None:
    patch = PreferencesPatch(theme="dark", quiet_hours=QuietHoursPatch(enabled=True))
    request = NewUser("p@example.com", "P", "viewer", "p" * 8, patch)
    user = (await world.service.create_user(world.caller(world.admin), request)).user
    assert (user.preferences.theme, user.preferences.quiet_hours.enabled) == ("dark", True)
    assert user.preferences.quiet_hours.start == "22:00"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_only_admins_create_users(world: World, role: Role) -> None:
    caller = Caller("someone", ORG, role)
    with pytest.raises(PermissionDenied):
        await world.service.create_user(caller, NewUser("x@example.com", "X", "viewer", "password1"))
    assert await world.users.get_by_email("x@example.com") is None


async def test_an_existing_email_is_409_whatever_its_case(world: World) -> None:
    with pytest.raises(UserAlreadyExists) as caught:
        await world.service.create_user(world.caller(world.admin), NewUser("ADMIN@example.COM", "A", "viewer", "p" * 8))
    assert caught.value.reason == "USER_ALREADY_EXISTS"
    assert caught.value.details == {"email": "admin@example.com"}
    assert world.events.published == []


async def test_invalid_requests_name_every_bad_field(world: World) -> None:
    request = NewUser("not-an-email", "", "superuser", "short", PreferencesPatch(theme="neon"))
    with pytest.raises(ValidationFailed) as caught:
        await world.service.create_user(world.caller(world.admin), request)
    assert fields_of(caught.value) == ["email", "name", "role", "password", "preferences.theme"]
    assert "must be at least 8 characters" in caught.value.message
    assert len(world.provider.logins) == 1


async def test_a_failed_password_step_removes_the_half_created_login(world: World) -> None:
    world.provider.refuse_passwords = True
    with pytest.raises(RuntimeError):
        await world.service.create_user(world.caller(world.admin), NewUser("f@example.com", "F", "viewer", "p" * 8))
    assert [login.email for login in world.provider.logins.values()] == ["admin@example.com"]
    assert await world.users.get_by_email("f@example.com") is None


class StaleEmailLookups(InMemoryUserRepository):
    """Answers 'no such email' like a replica that has not seen a concurrent creation yet."""

    async def get_by_email(self, email: str) -> User | None:
        return None


async def test_losing_the_race_for_an_email_in_the_store_removes_the_login() -> None:
    users, provider = StaleEmailLookups(), FakeIdentityProvider()
    service = IdentityService(users, provider, RecordingUserEvents(), SteppingClock())
    admin = Caller("boss", ORG, Role.ADMIN)
    await service.create_user(admin, NewUser("r@example.com", "R", "viewer", "p" * 8))
    provider.logins.clear()  # the provider has not seen the winner (another region, a console user)
    with pytest.raises(UserAlreadyExists):
        await service.create_user(admin, NewUser("r@example.com", "R2", "viewer", "p" * 8))
    assert provider.logins == {}


async def test_ensure_admin_creates_once(world: World) -> None:
    assert await world.service.ensure_admin(ORG, "admin@example.com", "admin-password", "Admin") is None
    other = await world.service.ensure_admin("org-2", "root@two.example", "password2", "Root")
    assert other is not None
    assert (other.user.role, other.user.organization_id, other.temporary_password) == (Role.ADMIN, "org-2", None)
    assert world.events.published == [("created", other.user, None)]


# Administration


async def test_admin_lists_the_organizations_users_by_page_and_role(world: World) -> None:
    a = await world.add("a@example.com")
    b = await world.add("b@example.com", Role.OPERATOR)
    c = await world.add("c@example.com")
    await world.add("stranger@else.example", org="org-else")
    caller = world.caller(world.admin)
    first = await world.service.list_users(caller, None, 1, 2)
    assert [u.user_id for u in first.items] == [world.admin.user_id, a.user_id]
    assert (first.total_items, first.total_pages, first.has_next, first.has_previous) == (4, 2, True, False)
    second = await world.service.list_users(caller, None, 2, 2)
    assert [u.user_id for u in second.items] == [b.user_id, c.user_id]
    viewers = await world.service.list_users(caller, "viewer", None, None)
    assert [u.user_id for u in viewers.items] == [a.user_id, c.user_id]


@pytest.mark.parametrize(
    ("role", "page_size", "field"), [("nobody", None, "role"), (None, 101, "pageSize"), (None, 0, "pageSize")]
)
async def test_list_parameters_are_checked(world: World, role: str | None, page_size: int | None, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.service.list_users(world.caller(world.admin), role, None, page_size)
    assert fields_of(caught.value) == [field]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_only_admins_list_users(world: World, role: Role) -> None:
    with pytest.raises(PermissionDenied):
        await world.service.list_users(Caller("x", ORG, role), None, None, None)


async def test_users_see_themselves_and_only_admins_see_others(world: World) -> None:
    viewer = await world.add("v@example.com")
    assert await world.service.get_user(world.caller(viewer), viewer.user_id) == viewer
    with pytest.raises(PermissionDenied):
        await world.service.get_user(world.caller(viewer), world.admin.user_id)
    assert await world.service.get_user(world.caller(world.admin), viewer.user_id) == viewer


async def test_another_organizations_user_is_404_even_for_an_admin(world: World) -> None:
    stranger = await world.add("stranger@else.example", org="org-else")
    with pytest.raises(UserNotFound) as caught:
        await world.service.get_user(world.caller(world.admin), stranger.user_id)
    assert stranger.email not in caught.value.message
    with pytest.raises(UserNotFound):
        await world.service.update_role(world.caller(world.admin), stranger.user_id, "admin")
    assert (await world.users.get(stranger.user_id)) == stranger


async def test_admin_changes_a_role_in_provider_and_store(world: World) -> None:
    viewer = await world.add("v@example.com")
    updated = await world.service.update_role(world.caller(world.admin), viewer.user_id, "operator")
    assert updated.role == Role.OPERATOR
    assert (await world.users.get(viewer.user_id)) == updated
    assert world.provider.logins[viewer.user_id].role == Role.OPERATOR
    assert world.events.published[-1] == ("updated", updated, world.admin.user_id)


async def test_setting_the_same_role_changes_nothing(world: World) -> None:
    viewer = await world.add("v@example.com")
    world.events.published.clear()
    assert await world.service.update_role(world.caller(world.admin), viewer.user_id, "viewer") == viewer
    assert world.events.published == []


async def test_the_last_admin_cannot_be_demoted(world: World) -> None:
    with pytest.raises(LastAdmin) as caught:
        await world.service.update_role(world.caller(world.admin), world.admin.user_id, "operator")
    assert caught.value.reason == "LAST_ADMIN"
    assert world.provider.logins[world.admin.user_id].role == Role.ADMIN


async def test_an_admin_can_step_down_when_another_admin_remains(world: World) -> None:
    other = await world.add("second@example.com", Role.ADMIN)
    demoted = await world.service.update_role(world.caller(world.admin), world.admin.user_id, "viewer")
    assert demoted.role == Role.VIEWER
    with pytest.raises(LastAdmin):
        await world.service.update_role(world.caller(other), other.user_id, "viewer")


async def test_role_changes_need_an_admin_and_a_valid_role(world: World) -> None:
    operator = await world.add("o@example.com", Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        await world.service.update_role(world.caller(operator), operator.user_id, "admin")
    with pytest.raises(ValidationFailed) as caught:
        await world.service.update_role(world.caller(world.admin), operator.user_id, "root")
    assert fields_of(caught.value) == ["role"]
