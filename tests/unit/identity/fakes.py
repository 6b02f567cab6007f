"""Small in-memory stand-ins for the identity ports that have no in-memory adapter of their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.identity.domain.errors import UserAlreadyExists
from services.identity.domain.model import IssuedToken, Login, PublicKey, User
from services.kernel.caller import Role


@dataclass
class FakeIdentityProvider:
    """Keeps logins and clear-text passwords in dicts; a token is just 'token-for-<user id>'."""

    logins: dict[str, Login] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    refuse_passwords: bool = False
    subject_prefix: str = ""

    async def create_login(self, login: Login) -> str:
        if any(existing.email == login.email for existing in self.logins.values()):
            raise UserAlreadyExists(login.email)
        subject = self.subject_prefix + login.user_id
        self.logins[subject] = Login(subject, login.email, login.organization_id, login.role)
        return subject

    async def set_password(self, login: Login, password: str) -> None:
        if self.refuse_passwords:
            raise RuntimeError("the provider is down")
        self.passwords[login.user_id] = password

    async def update_role(self, login: Login, role: Role) -> None:
        self.logins[login.user_id] = Login(login.user_id, login.email, login.organization_id, role)

    async def delete_login(self, login: Login) -> None:
        self.logins.pop(login.user_id, None)
        self.passwords.pop(login.user_id, None)

    async def sign_in(self, email: str, password: str) -> IssuedToken | None:
        for login in self.logins.values():
            if login.email == email and self.passwords.get(login.user_id) == password:
                return IssuedToken(f"token-for-{login.user_id}", 3600)
        return None

    async def public_keys(self) -> list[PublicKey]:
        return [PublicKey("RSA", "fake", "sig", "RS256", "n", "AQAB")]


@dataclass
class RecordingUserEvents:
    published: list[tuple[str, User, str | None]] = field(default_factory=list)

    async def user_created(self, user: User, actor_user_id: str | None) -> None:
        self.published.append(("created", user, actor_user_id))

    async def user_updated(self, user: User, actor_user_id: str | None) -> None:
        self.published.append(("updated", user, actor_user_id))

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.published]


class SteppingClock:
    """Each reading is one second after the previous one, so orderings by time are deterministic."""

    def __init__(self, start: datetime = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)):
        self._next = start

    def now(self) -> datetime:
        current = self._next
        self._next += timedelta(seconds=1)
        return current
