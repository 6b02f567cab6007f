"""Signing test tokens with a throwaway RSA key whose JWK set is written where a verifier can read it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from services.runtime.auth import FileJwks, ServiceIssuer, TokenVerifier

ISSUER = "iotmon-local"
AUDIENCE = "iotmon"
SERVICE_ISSUER = "iotmon-services"
SERVICE_AUDIENCE = "iotmon-internal"


@dataclass
class TokenMinter:
    key: rsa.RSAPrivateKey
    kid: str
    jwks_path: Path

    @classmethod
    def create(cls, directory: Path, kid: str = "test-key") -> TokenMinter:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update(kid=kid, use="sig", alg="RS256")
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "jwks.json"
        path.write_text(json.dumps({"keys": [jwk]}))
        return cls(key, kid, path)

    def mint(
        self,
        org: str = "org-1",
        role: str = "admin",
        user: str = "user-1",
        email: str | None = "user@example.com",
        ttl: int = 3600,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": user,
            "email": email,
            "custom:organizationId": org,
            "custom:role": role,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl,
            "token_use": "id",
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def mint_service(self, name: str = "test", ttl: int = 3600, **overrides: Any) -> str:
        """A service token, as the platform's service issuer signs them (services/runtime/service_tokens.py)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": f"service:{name}",
            "custom:role": "service",
            "custom:organizationId": "*",
            "iss": SERVICE_ISSUER,
            "aud": SERVICE_AUDIENCE,
            "iat": now,
            "exp": now + ttl,
        } | overrides
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def service_token_file(self, name: str = "test") -> Path:
        """A mounted service token, as production provides one (IOTMON_SERVICE_TOKEN_FILE)."""
        path = self.jwks_path.parent / f"service-{name}.token"
        path.write_text(self.mint_service(name))
        return path

    def verifier(self) -> TokenVerifier:
        service = ServiceIssuer(FileJwks(self.jwks_path), SERVICE_ISSUER, SERVICE_AUDIENCE)
        return TokenVerifier(FileJwks(self.jwks_path), issuer=ISSUER, audience=AUDIENCE, service=service)
