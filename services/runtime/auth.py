"""Bearer-token verification shared by the gateway and every service.

RS256 only (the algorithm is pinned, so `alg: none` and HS256-with-the-public-key are refused), issuer and
audience checked, and for Cognito the `token_use` claim. Keys come from a JWK set: the embedded issuer's
file in the data directory, or a URL such as a Cognito user pool's JWKS.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt

from services.kernel.caller import ALL_ORGANIZATIONS, Caller, Role
from services.kernel.errors import Unauthenticated, ValidationFailed
from services.runtime.settings import RuntimeSettings

ALGORITHM = "RS256"
ORG_CLAIM = "custom:organizationId"
ROLE_CLAIM = "custom:role"
SERVICE_ROLE = "service"


class JwksSource(Protocol):
    def key_for(self, kid: str) -> Any | None: ...


class FileJwks:
    """A JWK set on disk, re-read when an unknown key id shows up (at most once a second)."""

    def __init__(self, path: Path):
        self._path = path
        self._keys: dict[str, Any] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def key_for(self, kid: str) -> Any | None:
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._loaded_at > 1.0:
            with self._lock:
                self._reload()
            key = self._keys.get(kid)
        return key

    def _reload(self) -> None:
        self._loaded_at = time.monotonic()
        try:
            document = json.loads(self._path.read_text())
        except FileNotFoundError:
            return
        self._keys = {k["kid"]: jwt.PyJWK(k).key for k in document.get("keys", []) if "kid" in k}


class UrlJwks:
    """A JWK set fetched over HTTPS (Cognito publishes one per user pool) and cached by pyjwt."""

    def __init__(self, url: str):
        self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=600)

    def key_for(self, kid: str) -> Any | None:
        try:
            return self._client.get_signing_key(kid).key
        except jwt.PyJWKClientError:
            return None


@dataclass(frozen=True)
class ServiceIssuer:
    """The platform's own issuer of service tokens; only its tokens may carry the service role."""

    jwks: JwksSource
    issuer: str
    audience: str


class TokenVerifier:
    """Turns a bearer token into a Caller, or raises Unauthenticated with the reason."""

    def __init__(
        self,
        jwks: JwksSource,
        *,
        issuer: str,
        audience: str | None,
        token_use: str | None = None,
        service: ServiceIssuer | None = None,
        leeway_seconds: float = 30.0,
        cache_size: int = 10_000,
    ):
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._token_use = token_use
        self._service = service
        self._leeway = leeway_seconds
        # Verified tokens are cached until they expire: RS256 verification is the costliest part of a call.
        self._cache: dict[str, tuple[Caller, float]] = {}
        self._cache_size = cache_size

    @classmethod
    def from_settings(cls, settings: RuntimeSettings) -> TokenVerifier:
        user_keys: JwksSource = UrlJwks(settings.jwks_url) if settings.jwks_url else FileJwks(settings.jwks_path)
        service_keys = FileJwks(settings.service_jwks_path or settings.jwks_path)
        return cls(
            user_keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            token_use=settings.jwt_token_use,
            service=ServiceIssuer(service_keys, settings.service_issuer, settings.service_audience),
        )

    def verify(self, token: str) -> Caller:
        cached = self._cache.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        service = self._service_issuer_of(token)
        if service is not None:
            claims = self._decode(token, service.jwks, service.issuer, service.audience, None)
            caller = service_caller_from_claims(claims)
        else:
            claims = self._decode(token, self._jwks, self._issuer, self._audience, self._token_use)
            caller = caller_from_claims(claims)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[token] = (caller, float(claims["exp"]))
        return caller

    def _service_issuer_of(self, token: str) -> ServiceIssuer | None:
        """The service issuer when the token claims it; the signature is checked against its own keys next."""
        if self._service is None:
            return None
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        return self._service if unverified.get("iss") == self._service.issuer else None

    def _decode(
        self, token: str, jwks: JwksSource, issuer: str, audience: str | None, token_use: str | None
    ) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid("the token is not a well-formed JWT") from None
        if header.get("alg") != ALGORITHM:
            raise invalid(f"tokens must be signed with {ALGORITHM}")
        key = jwks.key_for(str(header.get("kid", "")))
        if key is None:
            raise invalid("the token was signed by an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=issuer,
                audience=audience,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "sub"], "verify_aud": audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED") from None
        except jwt.PyJWTError as exc:
            raise invalid(f"the token was refused: {exc}") from None
        if token_use and claims.get("token_use") != token_use:
            raise invalid(f"expected a token with token_use={token_use}")
        return claims


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    organization_id = claims.get(ORG_CLAIM)
    role = claims.get(ROLE_CLAIM)
    if not organization_id or not role:
        raise invalid(f"the token lacks {ORG_CLAIM} or {ROLE_CLAIM}")
    if role == SERVICE_ROLE or organization_id == ALL_ORGANIZATIONS:
        raise invalid("only the platform's service issuer can grant the service role")
    try:
        parsed_role = Role.parse(str(role))
    except ValidationFailed:
        raise invalid(f"unknown role {role!r} in the token") from None
    return Caller(str(claims["sub"]), str(organization_id), parsed_role, claims.get("email"))


def service_caller_from_claims(claims: dict[str, Any]) -> Caller:
    subject = str(claims["sub"])
    if claims.get(ROLE_CLAIM) != SERVICE_ROLE or not subject.startswith("service:"):
        raise invalid("a service token must carry the service role and a service:<name> subject")
    return Caller.service(subject.removeprefix("service:"))


def invalid(message: str) -> Unauthenticated:
    return Unauthenticated(message, reason="INVALID_TOKEN")


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` value, or 401."""
    if not authorization:
        raise Unauthenticated("this call needs an Authorization: Bearer <token> header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", reason="INVALID_TOKEN")
    return token.strip()
