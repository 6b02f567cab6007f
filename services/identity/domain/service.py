"""The identity use cases (§3.3): each checks the caller's permission, then the rules, then calls the ports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from services.identity.domain.errors import InvalidCredentials, LastAdmin, UserAlreadyExists, UserNotFound
from services.identity.domain.model import (
    MAX_DEVICE_TOKEN_LENGTH,
    CreatedUser,
    DeviceToken,
    IssuedToken,
    Login,
    Platform,
    PublicKey,
    User,
)
from services.identity.domain.preferences import Preferences, PreferencesPatch, merge_preferences
from services.identity.domain.validation import (
    check_name,
    check_password,
    check_phone_number,
    generate_temporary_password,
    normalise_email,
)
from services.identity.ports import IdentityProvider, UserEvents, UserRepository
from services.kernel.caller import Caller, Role
from services.kernel.clock import Clock, SystemClock
from services.kernel.errors import PermissionDenied, ValidationFailed, Violations
from services.kernel.ids import new_id
from services.kernel.pagination import Page, PageRequest

# Users read per repository call when listing a whole organization.
NOTIFY_PAGE_SIZE = 500


@dataclass(frozen=True)
class NewUser:
    """A CreateUser request as the client sent it; validated by the use case."""

    email: str
    name: str
    role: str
    password: str | None = None
    preferences: PreferencesPatch | None = None


class IdentityService:
    def __init__(
        self,
        users: UserRepository,
        provider: IdentityProvider,
        events: UserEvents,
        clock: Clock | None = None,
    ):
        self._users = users
        self._provider = provider
        self._events = events
        self._clock = clock or SystemClock()

    # Sign-in and keys: anonymous callers.

    async def issue_token(self, email: str, password: str) -> IssuedToken:
        violations = Violations()
        if not email.strip():
            violations.add("email", "is required")
        if not password:
            violations.add("password", "is required")
        violations.raise_if_any()
        issued = await self._provider.sign_in(email.strip().lower(), password)
        if issued is None:
            raise InvalidCredentials()
        return issued

    async def public_keys(self) -> list[PublicKey]:
        return await self._provider.public_keys()

    # The caller's own profile: any role.

    async def get_profile(self, caller: Caller) -> User:
        return await self._user_in_organization(caller, caller.user_id)

    async def update_profile(
        self,
        caller: Caller,
        name: str | None,
        preferences: PreferencesPatch | None,
        phone_number: str | None = None,
    ) -> User:
        if name is None and preferences is None and phone_number is None:
            raise ValidationFailed("give a name, preferences or a phone number to update")

        def change(user: User, violations: Violations) -> User:
            updated = user
            if name is not None:
                updated = replace(updated, name=check_name(name, violations))
            if preferences is not None:
                updated = replace(updated, preferences=merge_preferences(user.preferences, preferences, violations))
            if phone_number is not None:
                updated = replace(updated, phone_number=check_phone_number(phone_number, violations))
            return updated

        return await self._update_own(caller, change)

    async def update_preferences(self, caller: Caller, preferences: PreferencesPatch) -> User:
        def change(user: User, violations: Violations) -> User:
            return replace(user, preferences=merge_preferences(user.preferences, preferences, violations))

        return await self._update_own(caller, change)

    async def register_device_token(self, caller: Caller, token: str, platform: str) -> User:
        violations = Violations()
        token = token.strip()
        if not 1 <= len(token) <= MAX_DEVICE_TOKEN_LENGTH:
            violations.add("token", f"must be 1 to {MAX_DEVICE_TOKEN_LENGTH} characters")
        parsed = _parse_platform(platform, violations)
        violations.raise_if_any()
        assert parsed is not None
        device_token = DeviceToken(token, parsed, self._clock.now())
        return await self._update_own(caller, lambda user, _: user.with_device_token(device_token))

    # Platform services.

    async def users_to_notify(self, caller: Caller, organization_id: str) -> list[User]:
        """Every user of the organization, oldest first: the notification service decides whom to tell."""
        if not caller.is_service:
            raise PermissionDenied("only the platform's services may list users to notify")
        if not organization_id:
            raise ValidationFailed.of_field("organizationId", "is required")
        users: list[User] = []
        request = PageRequest(1, NOTIFY_PAGE_SIZE)
        while True:
            page = await self._users.list(organization_id, None, request)
            users.extend(page.items)
            if not page.has_next:
                return users
            request = PageRequest(request.page + 1, NOTIFY_PAGE_SIZE)

    # Administration: admins, within their own organization.

    async def list_users(self, caller: Caller, role: str | None, page: int | None, page_size: int | None) -> Page[User]:
        caller.require(Role.ADMIN, "listing users")
        role_filter = Role.parse(role) if role else None
        return await self._users.list(caller.organization_id, role_filter, PageRequest.parse(page, page_size))

    async def create_user(self, caller: Caller, request: NewUser) -> CreatedUser:
        caller.require(Role.ADMIN, "creating a user")
        return await self._create(caller.organization_id, request, actor_user_id=caller.user_id)

    async def get_user(self, caller: Caller, user_id: str) -> User:
        if user_id != caller.user_id:
            caller.require(Role.ADMIN, "viewing another user")
        return await self._user_in_organization(caller, user_id)

    async def update_role(self, caller: Caller, user_id: str, role: str) -> User:
        caller.require(Role.ADMIN, "changing a user's role")
        new_role = Role.parse(role)
        user = await self._user_in_organization(caller, user_id)
        if user.role == new_role:
            return user
        if user.role == Role.ADMIN and await self._admin_count(user.organization_id) <= 1:
            raise LastAdmin(user.user_id, user.organization_id)
        # The provider first: if it refuses, nothing changed. Tokens issued before keep the old role until
        # they expire.
        await self._provider.update_role(user.login, new_role)
        updated = replace(user, role=new_role, updated_at=self._clock.now())
        await self._users.save(updated)
        await self._events.user_updated(updated, caller.user_id)
        return updated

    async def ensure_admin(self, organization_id: str, email: str, password: str, name: str) -> CreatedUser | None:
        """Create the first admin of an organization at start-up unless a user with that email exists."""
        if await self._users.get_by_email(email.strip().lower()) is not None:
            return None
        request = NewUser(email=email, name=name, role=Role.ADMIN.label, password=password)
        return await self._create(organization_id, request, actor_user_id=None)

    # Helpers.

    async def _create(self, organization_id: str, request: NewUser, actor_user_id: str | None) -> CreatedUser:
        violations = Violations()
        email = normalise_email(request.email, violations)
        name = check_name(request.name, violations)
        role = _parse_role(request.role, violations)
        if request.password is not None:
            check_password(request.password, violations)
        preferences = merge_preferences(Preferences(), request.preferences or PreferencesPatch(), violations)
        violations.raise_if_any()
        if await self._users.get_by_email(email) is not None:
            raise UserAlreadyExists(email)
        assert role is not None  # a missing role was a violation
        temporary, password = None, request.password
        if password is None:
            temporary = password = generate_temporary_password()
        login = Login(new_id("user"), email, organization_id, role)
        login = replace(login, user_id=await self._provider.create_login(login))
        now = self._clock.now()
        user = User(login.user_id, email, name, organization_id, role, now, now, preferences)
        try:
            await self._provider.set_password(login, password)
            await self._users.add(user)
        except Exception:
            # A login without a profile could sign in but use nothing; undo it (e.g. a lost race on the email).
            await self._provider.delete_login(login)
            raise
        await self._events.user_created(user, actor_user_id)
        return CreatedUser(user, temporary)

    async def _user_in_organization(self, caller: Caller, user_id: str) -> User:
        """The user, or 404 — also for another organization's user, whose existence is not revealed."""
        user = await self._users.get(user_id) if user_id else None
        if user is None or user.organization_id != caller.organization_id:
            raise UserNotFound(user_id)
        return user

    async def _update_own(self, caller: Caller, change: Callable[[User, Violations], User]) -> User:
        user = await self._user_in_organization(caller, caller.user_id)
        violations = Violations()
        updated = change(user, violations)
        violations.raise_if_any()
        updated = replace(updated, updated_at=self._clock.now())
        await self._users.save(updated)
        await self._events.user_updated(updated, caller.user_id)
        return updated

    async def _admin_count(self, organization_id: str) -> int:
        return (await self._users.list(organization_id, Role.ADMIN, PageRequest(1, 1))).total_items


def _parse_role(value: str, violations: Violations) -> Role | None:
    try:
        return Role.parse(value or Role.VIEWER.label)
    except ValidationFailed as error:
        violations.add("role", error.violations[0].description)
        return None


def _parse_platform(value: str, violations: Violations) -> Platform | None:
    try:
        return Platform(value.strip().lower())
    except ValueError:
        allowed = ", ".join(p.value for p in Platform)
        violations.add("platform", f"must be one of {allowed}, got {value!r}")
        return None
