"""Use cases on the caller's own account: sign-in, profile, preferences and device tokens."""

from __future__ import annotations

import pytest

from services.identity.domain.errors import InvalidCredentials, UserNotFound
from services.identity.domain.model import MAX_DEVICE_TOKENS
from services.identity.domain.preferences import PreferencesPatch, QuietHoursPatch
from services.kernel.caller import Caller, Role
from services.kernel.errors import DomainError, ValidationFailed
from tests.unit.identity.world import ORG, World, fields_of

# Sign-in


async def test_sign_in_with_the_right_password_returns_the_providers_token(world: World) -> None:
    issued = await world.service.issue_token(" ADMIN@example.com ", "admin-password")
    assert issued.access_token == f"token-for-{world.admin.user_id}"
    assert (issued.token_type, issued.expires_in) == ("Bearer", 3600)


async def test_unknown_email_and_wrong_password_fail_alike(world: World) -> None:
    errors: list[DomainError] = []
    for email, password in [("admin@example.com", "wrong-password"), ("nobody@example.com", "admin-password")]:
        with pytest.raises(InvalidCredentials) as caught:
            await world.service.issue_token(email, password)
        errors.append(caught.value)
    assert {(e.reason, e.message) for e in errors} == {("INVALID_CREDENTIALS", "invalid email or password")}


async def test_sign_in_needs_email_and_password(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.service.issue_token(" ", "")
    assert fields_of(caught.value) == ["email", "password"]


# The caller's own profile


async def test_profile_of_the_caller(world: World) -> None:
    assert await world.service.get_profile(world.caller(world.admin)) == world.admin


async def test_profile_of_a_caller_without_one_is_404(world: World) -> None:
    with pytest.raises(UserNotFound) as caught:
        await world.service.get_profile(Caller("user-ghost", ORG, Role.VIEWER))
    assert (caught.value.reason, caught.value.details) == ("USER_NOT_FOUND", {"userId": "user-ghost"})


async def test_a_token_for_another_organization_does_not_reach_the_profile(world: World) -> None:
    with pytest.raises(UserNotFound):
        await world.service.get_profile(Caller(world.admin.user_id, "org-other", Role.ADMIN))


async def test_update_profile_changes_name_and_merges_preferences(world: World) -> None:
    viewer = await world.add("v@example.com")
    patch = PreferencesPatch(quiet_hours=QuietHoursPatch(enabled=True, timezone="America/New_York"))
    updated = await world.service.update_profile(world.caller(viewer), "  New Name ", patch)
    assert updated.name == "New Name"
    assert updated.preferences.quiet_hours.enabled is True
    assert updated.preferences.quiet_hours.start == "22:00"
    assert updated.preferences.theme == "light"
    assert updated.updated_at > viewer.updated_at
    assert await world.users.get(viewer.user_id) == updated
    assert world.events.published[-1] == ("updated", updated, viewer.user_id)


async def test_an_invalid_update_saves_nothing(world: World) -> None:
    viewer = await world.add("v@example.com")
    patch = PreferencesPatch(quiet_hours=QuietHoursPatch(timezone="Atlantis/Capital"))
    with pytest.raises(ValidationFailed) as caught:
        await world.service.update_profile(world.caller(viewer), "Valid Name", patch)
    assert fields_of(caught.value) == ["preferences.quietHours.timezone"]
    assert await world.users.get(viewer.user_id) == viewer


async def test_an_empty_profile_update_is_refused(world: World) -> None:
    with pytest.raises(ValidationFailed):
        await world.service.update_profile(world.caller(world.admin), None, None)


async def test_update_preferences_keeps_absent_fields(world: World) -> None:
    await world.service.update_preferences(world.caller(world.admin), PreferencesPatch(theme="dark"))
    updated = await world.service.update_preferences(world.caller(world.admin), PreferencesPatch(language="fr"))
    assert (updated.preferences.theme, updated.preferences.language) == ("dark", "fr")


async def test_device_tokens_are_deduplicated_and_capped(world: World) -> None:
    caller = world.caller(world.admin)
    await world.service.register_device_token(caller, "fcm-token-123", "android")
    user = await world.service.register_device_token(caller, " fcm-token-123 ", "ANDROID")
    assert [t.token for t in user.device_tokens] == ["fcm-token-123"]
    for i in range(MAX_DEVICE_TOKENS):
        user = await world.service.register_device_token(caller, f"t{i}", "ios")
    assert len(user.device_tokens) == MAX_DEVICE_TOKENS
    assert "fcm-token-123" not in [t.token for t in user.device_tokens]


async def test_device_token_input_is_checked(world: World) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await world.service.register_device_token(world.caller(world.admin), "", "blackberry")
    assert fields_of(caught.value) == ["token", "platform"]
