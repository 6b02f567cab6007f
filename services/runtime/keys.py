"""The platform's embedded RS256 signing key, kept in the data directory.

The private key lives in `<data_dir>/keys/signing-key.pem` (0600), created on first use and reused after
restarts, so tokens survive them. Its public JWK set goes to `settings.jwks_path`, which every
TokenVerifier (FileJwks) reads when no JWKS URL is configured. The identity service signs user tokens with
it; in embedded mode every service signs its own service token with it (services/runtime/service_tokens.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

KEY_FILE_NAME = "signing-key.pem"
ALGORITHM = "RS256"


class LocalSigningKey:
    def __init__(self, private_key: rsa.RSAPrivateKey):
        self._private_key = private_key
        self._public_jwk: dict[str, str] = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
        # The RFC 7638 thumbprint: the same key always gets the same kid, in every process.
        self.kid = _thumbprint(self._public_jwk)

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> LocalSigningKey:
        """Blocking (file I/O, and ~100 ms of key generation the first time): call it off the event loop."""
        path = keys_dir / KEY_FILE_NAME
        if not path.exists():
            _create_key_file(path)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return cls(key)

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (RFC 7517) with its kid, use and algorithm."""
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": ALGORITHM, **{k: self._public_jwk[k] for k in "ne"}}

    def publish(self, jwks_path: Path) -> None:
        """Write the JWK set atomically, so a verifier never reads half a file."""
        jwks_path.parent.mkdir(parents=True, exist_ok=True)
        document = {"keys": [self.public_jwk]}
        temporary = jwks_path.with_name(f".{jwks_path.name}.{secrets.token_hex(4)}")
        temporary.write_text(json.dumps(document, indent=2))
        os.replace(temporary, jwks_path)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid})


def _thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members in lexical order, without whitespace, base64url."""
    canonical = json.dumps({"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _create_key_file(path: Path) -> None:
    """Write a new key to a private temporary file, then link it into place.

    The link fails if another process (the CLI, a second replica) got there first; its key wins and ours is
    dropped, so every process ends up signing with the same key.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
