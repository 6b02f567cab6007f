"""Domain errors: types in the domain, status codes only at the edge (services/runtime/status.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class ErrorKind(Enum):
    """What kind of failure an error is; the runtime maps each kind to one gRPC status code."""

    INVALID = "invalid"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    NOT_IMPLEMENTED = "not_implemented"
    INTERNAL = "internal"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field, named by its JSON name as the client sent it (e.g. `location.lat`)."""

    field: str
    description: str


class DomainError(Exception):
    """Base of every error the domain raises on purpose.

    `reason` is the machine-readable code clients see (DEVICE_NOT_FOUND); `details` are string
    pairs that help the caller (the device id, the offending value).
    """

    kind: ErrorKind = ErrorKind.INTERNAL
    default_reason: str = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None, details: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.details: dict[str, str] = dict(details or {})


class ValidationFailed(DomainError):
    kind = ErrorKind.INVALID
    default_reason = "VALIDATION_ERROR"

    def __init__(
        self,
        message: str,
        *,
        violations: list[FieldViolation] | None = None,
        reason: str | None = None,
        details: dict[str, str] | None = None,
    ):
        super().__init__(message, reason=reason, details=details)
        self.violations: list[FieldViolation] = list(violations or [])

    @classmethod
    def of_field(cls, field_name: str, description: str) -> ValidationFailed:
        """The common case: one field is wrong, and the message says which and why."""
        return cls(f"{field_name}: {description}", violations=[FieldViolation(field_name, description)])

    @classmethod
    def of_violations(cls, violations: list[FieldViolation]) -> ValidationFailed:
        """One error listing several fields; the message names the first five."""
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        return cls(f"invalid request: {summary}{more}", violations=violations)


class Violations:
    """Collects every invalid field of a request so that one 400 lists all of them."""

    error_type: type[ValidationFailed] = ValidationFailed

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field_name: str, description: str) -> None:
        self.items.append(FieldViolation(field_name, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise self.error_type.of_violations(list(self.items))


class Unauthenticated(DomainError):
    kind = ErrorKind.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    kind = ErrorKind.FORBIDDEN
    default_reason = "FORBIDDEN"


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    kind = ErrorKind.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class Conflict(DomainError):
    """The request is valid but the resource's current state forbids it (409)."""

    kind = ErrorKind.CONFLICT
    default_reason = "CONFLICT"


class TooLarge(DomainError):
    kind = ErrorKind.TOO_LARGE
    default_reason = "PAYLOAD_TOO_LARGE"


class RateLimited(DomainError):
    kind = ErrorKind.RATE_LIMITED
    default_reason = "RATE_LIMITED"


class Unavailable(DomainError):
    """A dependency did not answer; retrying later may help (503)."""

    kind = ErrorKind.UNAVAILABLE
    default_reason = "UPSTREAM_UNAVAILABLE"


@dataclass
class ErrorReport:
    """A plain description of an error, for places that collect errors instead of raising them."""

    reason: str
    message: str
    details: dict[str, str] = field(default_factory=dict)
