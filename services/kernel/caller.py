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


ALL_ORGANIZATIONS = "*"


@dataclass(frozen=True)
class Caller:
    """Who a request runs for: a user scoped to one organization, or one of the platform's own services.

    A service principal (`is_service`) acts for the platform — ingesting device telemetry, calling internal
    RPCs — and may see every organization. Only the platform's service issuer can mint one.
    """

    user_id: str
    organization_id: str
    role: Role
    email: str | None = None
    is_service: bool = False

    @classmethod
    def service(cls, name: str) -> Caller:
        return cls(f"service:{name}", ALL_ORGANIZATIONS, Role.ADMIN, is_service=True)

    def can_see(self, organization_id: str | None) -> bool:
        return self.is_service or organization_id == self.organization_id

    def require(self, role: Role, action: str) -> None:
        """Raise 403 unless the caller holds `role` or a higher one."""
        if self.role < role:
            raise PermissionDenied(
                f"{action} requires the {role.label} role; you are {self.role.label}",
                details={"requiredRole": role.label, "role": self.role.label},
            )

    def require_organization(self, organization_id: str) -> None:
        """Raise 403 when the caller names an organization that is not theirs."""
        if not self.can_see(organization_id):
            raise PermissionDenied(
                "you can only access your own organization",
                details={"organizationId": organization_id},
            )
