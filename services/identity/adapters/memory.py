"""An in-memory UserRepository: a supported adapter for tests and throwaway runs, held to the same contract."""

from __future__ import annotations

from services.identity.domain.errors import UserAlreadyExists, UserNotFound
from services.identity.domain.model import User
from services.kernel.caller import Role
from services.kernel.pagination import Page, PageRequest


class InMemoryUserRepository:
    def __init__(self) -> None:
        self._users: dict[str, User] = {}

    async def add(self, user: User) -> None:
        if user.user_id in self._users or any(u.email == user.email for u in self._users.values()):
            raise UserAlreadyExists(user.email)
        self._users[user.user_id] = user

    async def save(self, user: User) -> None:
        if user.user_id not in self._users:
            raise UserNotFound(user.user_id)
        self._users[user.user_id] = user

    async def get(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    async def get_by_email(self, email: str) -> User | None:
        return next((u for u in self._users.values() if u.email == email), None)

    async def list(self, organization_id: str, role: Role | None, page: PageRequest) -> Page[User]:
        matching = sorted(
            (u for u in self._users.values() if u.organization_id == organization_id and role in (None, u.role)),
            key=lambda u: (u.created_at, u.user_id),
        )
        return Page(matching[page.offset : page.offset + page.page_size], page, len(matching))
