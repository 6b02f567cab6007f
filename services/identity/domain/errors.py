"""The identity service's domain errors; the runtime maps each kind to a gRPC status."""

from __future__ import annotations

from services.kernel.errors import AlreadyExists, Conflict, NotFound, Unauthenticated


class UserNotFound(NotFound):
    default_reason = "USER_NOT_FOUND"

    def __init__(self, user_id: str):
        super().__init__(f"User with ID '{user_id}' not found", details={"userId": user_id})


class UserAlreadyExists(AlreadyExists):
    default_reason = "USER_ALREADY_EXISTS"

    def __init__(self, email: str):
        super().__init__(f"a user with email '{email}' already exists", details={"email": email})


class InvalidCredentials(Unauthenticated):
    """One message for an unknown email and a wrong password, so sign-in does not reveal who has an account."""

    default_reason = "INVALID_CREDENTIALS"

    def __init__(self) -> None:
        super().__init__("invalid email or password")


class LastAdmin(Conflict):
    default_reason = "LAST_ADMIN"

    def __init__(self, user_id: str, organization_id: str):
        super().__init__(
            "the organization's last admin cannot be demoted; make another user admin first",
            details={"userId": user_id, "organizationId": organization_id},
        )
