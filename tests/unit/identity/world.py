"""The identity use cases wired to in-memory adapters, and helpers to act in them."""

from __future__ import annotations

from dataclasses import dataclass

from services.identity.adapters.memory import InMemoryUserRepository
from services.identity.domain.model import User
from services.identity.domain.service import IdentityService, NewUser
from services.kernel.caller import Caller, Role
from services.kernel.errors import ValidationFailed
from tests.unit.identity.fakes import FakeIdentityProvider, RecordingUserEvents

ORG = "org-789"


@dataclass
class World:
    service: IdentityService
    users: InMemoryUserRepository
    provider: FakeIdentityProvider
    events: RecordingUserEvents
    admin: User

    def caller(self, user: User) -> Caller:
        return Caller(user.user_id, user.organization_id, user.role, user.email)

    async def add(self, email: str, role: Role = Role.VIEWER, org: str = ORG) -> User:
        admin = Caller("boss", org, Role.ADMIN)
        created = await self.service.create_user(admin, NewUser(email, email.split("@")[0], role.label, "password1"))
        return created.user


def fields_of(error: ValidationFailed) -> list[str]:
    return [v.field for v in error.violations]
