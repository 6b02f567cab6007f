"""The production IdentityProvider: an Amazon Cognito user pool through its admin API (aioboto3).

The pool must declare the custom attributes `organizationId` and `role` (String, mutable), and the app
client must allow ADMIN_USER_PASSWORD_AUTH and have no client secret. Users sign in by email: the email is
the Cognito username, and the pool's `sub` is the user id everywhere else (tokens, profiles, events).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.identity.adapters.aws import error_code, outages_as_unavailable
from services.identity.domain.errors import UserAlreadyExists
from services.identity.domain.model import IssuedToken, Login, PublicKey
from services.kernel.caller import Role
from services.kernel.errors import Unauthenticated, Unavailable, ValidationFailed

if TYPE_CHECKING:
    from types_aiobotocore_cognito_idp.client import CognitoIdentityProviderClient
    from types_aiobotocore_cognito_idp.type_defs import AttributeTypeTypeDef

ORG_ATTRIBUTE = "custom:organizationId"
ROLE_ATTRIBUTE = "custom:role"
# Cognito rotates its keys rarely; refetching every ten minutes picks up a rotation soon enough.
JWKS_CACHE_SECONDS = 600
_WRONG_CREDENTIALS = frozenset({"NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException"})


def cognito_jwks_url(user_pool_id: str, endpoint_url: str | None = None) -> str:
    """Where the pool publishes its keys; with an endpoint override (moto, LocalStack) under that endpoint."""
    region = user_pool_id.split("_", 1)[0]
    base = (endpoint_url or f"https://cognito-idp.{region}.amazonaws.com").rstrip("/")
    return f"{base}/{user_pool_id}/.well-known/jwks.json"


def cognito_issuer(user_pool_id: str) -> str:
    """The `iss` claim of the pool's tokens (what RuntimeSettings.jwt_issuer must be set to)."""
    region = user_pool_id.split("_", 1)[0]
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


class CognitoIdentityProvider:
    def __init__(self, client: CognitoIdentityProviderClient, *, user_pool_id: str, client_id: str, jwks_url: str):
        self._client = client
        self._pool = user_pool_id
        self._client_id = client_id
        self._jwks_url = jwks_url
        self._keys: list[PublicKey] = []
        self._keys_fetched_at = 0.0

    async def check_pool(self) -> None:
        """Fail at start-up, with the fix in the message, when the pool lacks the custom attributes."""
        with outages_as_unavailable("Cognito"):
            pool = (await self._client.describe_user_pool(UserPoolId=self._pool))["UserPool"]
        declared = {a.get("Name") for a in pool.get("SchemaAttributes", [])}
        missing = sorted({ORG_ATTRIBUTE, ROLE_ATTRIBUTE} - declared)
        if missing:
            raise RuntimeError(
                f"Cognito user pool {self._pool} lacks the custom attributes {', '.join(missing)}; "
                "add them to its schema (String, mutable)"
            )

    async def create_login(self, login: Login) -> str:
        attributes: list[AttributeTypeTypeDef] = [
            {"Name": "email", "Value": login.email},
            {"Name": "email_verified", "Value": "true"},
            {"Name": ORG_ATTRIBUTE, "Value": login.organization_id},
            {"Name": ROLE_ATTRIBUTE, "Value": login.role.label},
        ]
        with outages_as_unavailable("Cognito"):
            try:
                # SUPPRESS: the password is set right after, so Cognito must not e-mail an invitation.
                response = await self._client.admin_create_user(
                    UserPoolId=self._pool, Username=login.email, UserAttributes=attributes, MessageAction="SUPPRESS"
                )
            except ClientError as error:
                if error_code(error) in ("UsernameExistsException", "AliasExistsException"):
                    raise UserAlreadyExists(login.email) from None
                raise
        created = {a["Name"]: a.get("Value", "") for a in response["User"].get("Attributes", [])}
        return created["sub"]

    async def set_password(self, login: Login, password: str) -> None:
        with outages_as_unavailable("Cognito"):
            try:
                await self._client.admin_set_user_password(
                    UserPoolId=self._pool, Username=login.email, Password=password, Permanent=True
                )
            except ClientError as error:
                if error_code(error) == "InvalidPasswordException":
                    # The pool's policy can be stricter than ours (symbols, upper case, ...).
                    raise ValidationFailed.of_field("password", _message(error)) from None
                raise

    async def update_role(self, login: Login, role: Role) -> None:
        with outages_as_unavailable("Cognito"):
            await self._client.admin_update_user_attributes(
                UserPoolId=self._pool,
                Username=login.email,
                UserAttributes=[{"Name": ROLE_ATTRIBUTE, "Value": role.label}],
            )

    async def delete_login(self, login: Login) -> None:
        with outages_as_unavailable("Cognito"):
            try:
                await self._client.admin_delete_user(UserPoolId=self._pool, Username=login.email)
            except ClientError as error:
                if error_code(error) != "UserNotFoundException":
                    raise

    async def sign_in(self, email: str, password: str) -> IssuedToken | None:
        with outages_as_unavailable("Cognito"):
            try:
                response = await self._client.admin_initiate_auth(
                    UserPoolId=self._pool,
                    ClientId=self._client_id,
                    AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                    AuthParameters={"USERNAME": email, "PASSWORD": password},
                )
            except ClientError as error:
                if error_code(error) in _WRONG_CREDENTIALS:
                    return None
                raise
        result = response.get("AuthenticationResult")
        if result is None:
            # A challenge (new password, MFA) this API cannot complete; the password itself was right.
            challenge = response.get("ChallengeName", "unknown")
            raise Unauthenticated(
                f"sign-in needs the {challenge} step, which this API does not support",
                reason="SIGN_IN_CHALLENGE",
                details={"challenge": str(challenge)},
            )
        # The ID token, not the access token: only the ID token carries email and the custom claims.
        return IssuedToken(result["IdToken"], int(result.get("ExpiresIn", 3600)), result.get("TokenType", "Bearer"))

    async def public_keys(self) -> list[PublicKey]:
        if not self._keys or time.monotonic() - self._keys_fetched_at > JWKS_CACHE_SECONDS:
            document = await asyncio.to_thread(_fetch_json, self._jwks_url)
            self._keys = [_public_key(k) for k in document.get("keys", [])]
            self._keys_fetched_at = time.monotonic()
        return list(self._keys)


def _fetch_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # a configured URL, never client input
            document: dict[str, Any] = json.load(response)
            return document
    except (OSError, ValueError) as error:
        raise Unavailable("the identity provider's key set could not be fetched", details={"url": url}) from error


def _public_key(jwk: dict[str, Any]) -> PublicKey:
    return PublicKey(
        kty=str(jwk.get("kty", "RSA")),
        kid=str(jwk.get("kid", "")),
        use=str(jwk.get("use", "sig")),
        alg=str(jwk.get("alg", "RS256")),
        n=str(jwk.get("n", "")),
        e=str(jwk.get("e", "")),
    )


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "refused by the identity provider"))
