"""The token a service presents when it acts for the platform rather than for a user.

Embedded mode signs it with the data directory's key (services/runtime/keys.py), so `iotmon up` and
`iotmon serve` need nothing configured. In production a token file is mounted from a Kubernetes Secret
(IOTMON_SERVICE_TOKEN_FILE), re-read when it changes, and verifiers trust IOTMON_SERVICE_JWKS_PATH.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from services.runtime.auth import ORG_CLAIM, ROLE_CLAIM, SERVICE_ROLE
from services.runtime.keys import LocalSigningKey
from services.runtime.settings import RuntimeSettings

TOKEN_TTL_SECONDS = 3600


class ServiceTokens:
    def __init__(self, settings: RuntimeSettings, service_name: str):
        self._settings = settings
        self._name = service_name
        self._token = ""
        self._renew_at = 0.0
        self._key: LocalSigningKey | None = None

    def token(self) -> str:
        """A valid token, renewed half-way through its life (or when the mounted file changes)."""
        if time.time() >= self._renew_at:
            self._token, self._renew_at = self._from_file() or self._mint()
        return self._token

    def _from_file(self) -> tuple[str, float] | None:
        path: Path | None = self._settings.service_token_file
        if path is None:
            return None
        # Re-read every minute: a rotated Secret reaches the pod without a restart.
        return path.read_text().strip(), time.time() + 60

    def _mint(self) -> tuple[str, float]:
        if self._key is None:
            self._key = LocalSigningKey.load_or_create(self._settings.keys_dir)
            self._key.publish(self._settings.service_jwks_path or self._settings.jwks_path)
        now = int(time.time())
        claims = {
            "sub": f"service:{self._name}",
            ROLE_CLAIM: SERVICE_ROLE,
            ORG_CLAIM: "*",
            "iss": self._settings.service_issuer,
            "aud": self._settings.service_audience,
            "iat": now,
            "exp": now + TOKEN_TTL_SECONDS,
            "jti": secrets.token_hex(8),
        }
        return self._key.sign(claims), now + TOKEN_TTL_SECONDS / 2
