"""One contract for every UserRepository: in-memory, SQLite, and DynamoDB on the moto server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.identity.adapters.dynamodb_users import DynamoDbUserRepository
from services.identity.adapters.memory import InMemoryUserRepository
from services.identity.adapters.sqlite_users import SqliteUserRepository
from services.identity.domain.errors import UserAlreadyExists, UserNotFound
from services.identity.domain.model import DeviceToken, Platform, User
from services.identity.domain.preferences import NotificationChannels, Preferences, QuietHours
from services.identity.ports import UserRepository
from services.kernel.caller import Role
from services.kernel.pagination import PageRequest
from tests.integration.identity.aws import dynamodb_client, new_table_name

T0 = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
async def repository(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UserRepository]:
    if request.param == "memory":
        yield InMemoryUserRepository()
    elif request.param == "sqlite":
        sqlite = SqliteUserRepository(tmp_path / "identity.db")
        yield sqlite
        sqlite.close()
    else:
        # Only sync fixtures can be requested lazily from an async one: the client is opened here.
        async with dynamodb_client(request.getfixturevalue("moto_endpoint")) as client:
            dynamo = DynamoDbUserRepository(client, new_table_name())
            await dynamo.ensure_table()
            yield dynamo


def a_user(n: int, org: str = "org-1", role: Role = Role.VIEWER, minute: int | None = None) -> User:
    created = T0 + timedelta(minutes=n if minute is None else minute)
    return User(f"user-{n:03d}", f"user{n}@example.com", f"User {n}", org, role, created, created)


def a_rich_user() -> User:
    return User(
        "user-rich",
        "rich@example.com",
        "Rich Ünïcode Name",
        "org-1",
        Role.OPERATOR,
        T0,
        T0 + timedelta(hours=1, microseconds=123),
        Preferences(
            NotificationChannels(email=False, push=True, sms=True),
            QuietHours(True, "22:00", "08:00", "America/New_York"),
            "dark",
            "pt-BR",
        ),
        (
            DeviceToken("fcm-token-123", Platform.ANDROID, T0 + timedelta(seconds=5)),
            DeviceToken("apns-token", Platform.IOS, T0 + timedelta(seconds=9)),
        ),
    )


async def test_a_user_comes_back_exactly_as_stored(repository: UserRepository) -> None:
    user = a_rich_user()
    await repository.add(user)
    assert await repository.get("user-rich") == user
    assert await repository.get_by_email("rich@example.com") == user
    stored = await repository.get("user-rich")
    assert stored is not None
    assert stored.created_at.utcoffset() == timedelta(0)


async def test_unknown_users_are_none(repository: UserRepository) -> None:
    assert await repository.get("user-nobody") is None
    assert await repository.get_by_email("nobody@example.com") is None


async def test_an_email_belongs_to_one_user_across_organizations(repository: UserRepository) -> None:
    first = a_user(1)
    await repository.add(first)
    twin = replace(a_user(2, org="org-2"), email=first.email)
    with pytest.raises(UserAlreadyExists) as caught:
        await repository.add(twin)
    assert caught.value.details == {"email": first.email}
    assert await repository.get(twin.user_id) is None
    assert await repository.get_by_email(first.email) == first


async def test_a_taken_id_is_refused(repository: UserRepository) -> None:
    await repository.add(a_user(1))
    with pytest.raises(UserAlreadyExists):
        await repository.add(replace(a_user(1), email="other@example.com"))
    assert await repository.get_by_email("other@example.com") is None


async def test_concurrent_creations_with_one_email_let_exactly_one_win(repository: UserRepository) -> None:
    rivals = [replace(a_user(n), email="race@example.com") for n in range(5)]
    results = await asyncio.gather(*(repository.add(u) for u in rivals), return_exceptions=True)
    winners = [u for u, r in zip(rivals, results, strict=True) if r is None]
    assert len(winners) == 1
    assert all(isinstance(r, UserAlreadyExists) for r in results if r is not None)
    assert await repository.get_by_email("race@example.com") == winners[0]


async def test_save_replaces_the_stored_user(repository: UserRepository) -> None:
    user = a_user(1)
    await repository.add(user)
    changed = replace(
        user,
        name="Renamed",
        role=Role.ADMIN,
        preferences=Preferences(theme="dark"),
        device_tokens=(DeviceToken("t", Platform.WEB, T0),),
        updated_at=T0 + timedelta(days=1),
    )
    await repository.save(changed)
    assert await repository.get(user.user_id) == changed
    assert await repository.get_by_email(user.email) == changed
    admins = await repository.list("org-1", Role.ADMIN, PageRequest())
    assert [u.user_id for u in admins.items] == [user.user_id]


async def test_saving_an_unknown_user_is_not_found(repository: UserRepository) -> None:
    with pytest.raises(UserNotFound):
        await repository.save(a_user(1))
    assert await repository.get(a_user(1).user_id) is None


async def test_list_is_one_organization_oldest_first_with_totals(repository: UserRepository) -> None:
    # Added out of order; two share a creation instant, so the id breaks the tie.
    for user in [a_user(3), a_user(1, minute=0), a_user(2, minute=0), a_user(4, org="org-2"), a_user(5)]:
        await repository.add(user)
    first = await repository.list("org-1", None, PageRequest(1, 2))
    assert [u.user_id for u in first.items] == ["user-001", "user-002"]
    assert (first.total_items, first.total_pages, first.has_next) == (4, 2, True)
    second = await repository.list("org-1", None, PageRequest(2, 2))
    assert [u.user_id for u in second.items] == ["user-003", "user-005"]
    assert not second.has_next
    beyond = await repository.list("org-1", None, PageRequest(3, 2))
    assert (beyond.items, beyond.total_items) == ([], 4)
    empty = await repository.list("org-none", None, PageRequest())
    assert (empty.items, empty.total_items, empty.total_pages) == ([], 0, 0)


async def test_list_filters_by_role(repository: UserRepository) -> None:
    for user in [
        a_user(1, role=Role.ADMIN),
        a_user(2),
        a_user(3, role=Role.ADMIN),
        a_user(4, org="org-2", role=Role.ADMIN),
    ]:
        await repository.add(user)
    admins = await repository.list("org-1", Role.ADMIN, PageRequest(1, 1))
    assert [u.user_id for u in admins.items] == ["user-001"]
    assert admins.total_items == 2
    operators = await repository.list("org-1", Role.OPERATOR, PageRequest())
    assert operators.total_items == 0
