"""The user entity: device tokens are deduplicated by token and capped, oldest dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.identity.domain.model import MAX_DEVICE_TOKENS, DeviceToken, Platform, User
from services.kernel.caller import Role

T0 = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)


def a_user() -> User:
    return User("user-1", "a@example.com", "A", "org-1", Role.VIEWER, T0, T0)


def token(name: str, minute: int, platform: Platform = Platform.ANDROID) -> DeviceToken:
    return DeviceToken(name, platform, T0 + timedelta(minutes=minute))


def test_tokens_are_kept_oldest_first() -> None:
    user = a_user().with_device_token(token("a", 1)).with_device_token(token("b", 2))
    assert [t.token for t in user.device_tokens] == ["a", "b"]
    assert user.updated_at == T0 + timedelta(minutes=2)


def test_registering_a_known_token_again_keeps_one_copy_and_moves_it_last() -> None:
    user = a_user().with_device_token(token("a", 1)).with_device_token(token("b", 2))
    user = user.with_device_token(token("a", 3, Platform.IOS))
    assert [t.token for t in user.device_tokens] == ["b", "a"]
    assert user.device_tokens[-1].platform == Platform.IOS


def test_beyond_the_cap_the_oldest_tokens_go() -> None:
    user = a_user()
    for i in range(MAX_DEVICE_TOKENS + 3):
        user = user.with_device_token(token(f"t{i}", i))
    assert len(user.device_tokens) == MAX_DEVICE_TOKENS
    assert user.device_tokens[0].token == "t3"
    assert user.device_tokens[-1].token == f"t{MAX_DEVICE_TOKENS + 2}"


def test_login_carries_the_claims() -> None:
    login = a_user().login
    assert (login.user_id, login.email, login.organization_id, login.role) == (
        "user-1",
        "a@example.com",
        "org-1",
        Role.VIEWER,
    )
