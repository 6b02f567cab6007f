"""Who is calling: the identity every use case checks before it acts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from services.kernel.errors import PermissionDenied, ValidationFailed


class Role(IntEnum):
    """Roles are ordered: each one can do everything the one below it can."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str, field_name: str = "role") -> Role:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            allowed = ", ".join(r.label for r in cls)
            raise ValidationFailed.of_field(field_name, f"must be one of {allowed}, got {value!r}") from None


@dataclass(frozen=True)
class Caller:
    """The authenticated user on whose behalf a request runs, scoped to one organization."""

    user_id: str
    organization_id: str
    role: Role
    email: str | None = None

    def require(self, role: Role, action: str) -> None:
        """Raise 403 unless the caller holds `role` or a higher one."""
        if self.role < role:
            raise PermissionDenied(
                f"{action} requires the {role.label} role; you are {self.role.label}",
                details={"requiredRole": role.label, "role": self.role.label},
            )

    def require_organization(self, organization_id: str) -> None:
        """Raise 403 when the caller names an organization that is not theirs."""
        if organization_id != self.organization_id:
            raise PermissionDenied(
                "you can only access your own organization",
                details={"organizationId": organization_id},
            )
