"""The embedded token issuer: user tokens shaped like Cognito's, signed with the platform's local key."""

from __future__ import annotations

import secrets
import time
from typing import Any

from services.kernel.caller import Role
from services.runtime.keys import LocalSigningKey


class LocalTokenIssuer:
    """Signs ID tokens shaped like Cognito's (§7.1), so one verifier serves both modes."""

    def __init__(self, key: LocalSigningKey, *, issuer: str, audience: str):
        self._key = key
        self._issuer = issuer
        self._audience = audience

    def issue(self, *, user_id: str, email: str | None, organization_id: str, role: Role, ttl_seconds: int) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": user_id,
            "custom:organizationId": organization_id,
            "custom:role": role.label,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "auth_time": now,
            "exp": now + ttl_seconds,
            "token_use": "id",
            "jti": secrets.token_hex(16),
        }
        if email:
            claims["email"] = email
        return self._key.sign(claims)
