"""The user entity and the values the identity use cases exchange with their ports."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from services.identity.domain.preferences import Preferences
from services.kernel.caller import Role

# A phone that reinstalls the app gets a new token; old ones pile up unless capped.
MAX_DEVICE_TOKENS = 20
MAX_DEVICE_TOKEN_LENGTH = 4096


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


@dataclass(frozen=True)
class DeviceToken:
    """A push token of one of the user's phones or browsers (FCM, APNs)."""

    token: str
    platform: Platform
    registered_at: datetime


@dataclass(frozen=True)
class Login:
    """What the identity provider knows about a user: who they are and the claims their tokens carry."""

    user_id: str
    email: str
    organization_id: str
    role: Role


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    name: str
    organization_id: str
    role: Role
    created_at: datetime
    updated_at: datetime
    preferences: Preferences = field(default_factory=Preferences)
    # Oldest first; a token appears at most once.
    device_tokens: tuple[DeviceToken, ...] = ()
    # E.164; where SMS alerts go.
    phone_number: str | None = None

    @property
    def login(self) -> Login:
        return Login(self.user_id, self.email, self.organization_id, self.role)

    def with_device_token(self, token: DeviceToken) -> User:
        """Registering a known token again moves it to the newest place; beyond the cap the oldest go."""
        kept = [t for t in self.device_tokens if t.token != token.token]
        kept.append(token)
        return replace(self, device_tokens=tuple(kept[-MAX_DEVICE_TOKENS:]), updated_at=token.registered_at)


@dataclass(frozen=True)
class CreatedUser:
    user: User
    # Set only when the service generated the password; shown to the admin once and never stored in clear.
    temporary_password: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"


@dataclass(frozen=True)
class PublicKey:
    """One RSA verification key as a JWK (RFC 7517)."""

    kty: str
    kid: str
    use: str
    alg: str
    n: str
    e: str
