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

from services.runtime.auth import FileJwks, TokenVerifier

ISSUER = "iotmon-local"
AUDIENCE = "iotmon"


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

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(FileJwks(self.jwks_path), issuer=ISSUER, audience=AUDIENCE)
