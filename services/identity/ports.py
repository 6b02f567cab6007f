"""What the identity domain needs from the outside world, one Protocol per outside thing."""

from __future__ import annotations

from typing import Protocol

from services.identity.domain.model import IssuedToken, Login, PublicKey, User
from services.kernel.caller import Role
from services.kernel.pagination import Page, PageRequest


class UserRepository(Protocol):
    """Profiles: name, role, preferences and device tokens. Emails are unique across all organizations."""

    async def add(self, user: User) -> None:
        """Store a new user; raise UserAlreadyExists when the email (or the id) is taken."""
        ...

    async def save(self, user: User) -> None:
        """Replace a stored user; raise UserNotFound when there is none with that id."""
        ...

    async def get(self, user_id: str) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None: ...

    async def list(self, organization_id: str, role: Role | None, page: PageRequest) -> Page[User]:
        """One page of the organization's users (optionally of one role), oldest first."""
        ...


class IdentityProvider(Protocol):
    """Credentials and the claims tokens carry: the embedded issuer, or Cognito in production."""

    async def create_login(self, login: Login) -> str:
        """Create the login without a password; return the subject its tokens will carry (the user id).

        Raise UserAlreadyExists when the provider already knows the email.
        """
        ...

    async def set_password(self, login: Login, password: str) -> None: ...

    async def update_role(self, login: Login, role: Role) -> None:
        """Change the role claim of tokens issued from now on."""
        ...

    async def delete_login(self, login: Login) -> None:
        """Remove the login; a missing one is not an error (this undoes a half-finished creation)."""
        ...

    async def sign_in(self, email: str, password: str) -> IssuedToken | None:
        """A token for a correct email and password; None for an unknown email or a wrong password."""
        ...

    async def public_keys(self) -> list[PublicKey]: ...


class UserEvents(Protocol):
    """Tells other services (notification, the WebSocket hub) that a user changed."""

    async def user_created(self, user: User, actor_user_id: str | None) -> None: ...

    async def user_updated(self, user: User, actor_user_id: str | None) -> None: ...
