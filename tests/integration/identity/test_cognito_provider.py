"""What only the Cognito adapter does, on the moto server: pool checks, pool policies, challenges, outages.

Its shared behaviour (sign-in, claims, role changes, keys) is in test_identity_provider_contract.py.
Known differences between moto and Cognito, so nothing here relies on them: moto signs every pool's tokens
with one fixed key (kid "dummy"), accepts custom attributes the schema does not declare, ignores the app
client's ExplicitAuthFlows, and compares usernames case-sensitively (the domain lower-cases emails anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aioboto3
import jwt
import pytest
from botocore.config import Config

from services.identity.adapters.cognito_provider import CognitoIdentityProvider, cognito_issuer, cognito_jwks_url
from services.identity.domain.model import Login
from services.kernel.caller import Role
from services.kernel.errors import Unauthenticated, Unavailable, ValidationFailed
from tests.integration.identity.aws import REGION, CognitoPool, create_cognito_pool
from tests.support.servers import free_port

if TYPE_CHECKING:
    from types_aiobotocore_cognito_idp.client import CognitoIdentityProviderClient


def test_issuer_and_jwks_url_follow_the_pool_id() -> None:
    assert cognito_issuer("eu-west-1_AbC") == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
    assert cognito_jwks_url("eu-west-1_AbC") == (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json"
    )
    assert cognito_jwks_url("eu-west-1_AbC", "http://127.0.0.1:5000/") == (
        "http://127.0.0.1:5000/eu-west-1_AbC/.well-known/jwks.json"
    )


async def test_a_pool_with_the_custom_attributes_passes_the_check(cognito_provider: CognitoIdentityProvider) -> None:
    await cognito_provider.check_pool()


async def test_a_pool_without_the_custom_attributes_fails_at_start(
    cognito: CognitoIdentityProviderClient, moto_endpoint: str
) -> None:
    pool = await create_cognito_pool(cognito, moto_endpoint, custom_attributes=False)
    provider = CognitoIdentityProvider(
        cognito, user_pool_id=pool.pool_id, client_id=pool.client_id, jwks_url=pool.jwks_url
    )
    with pytest.raises(RuntimeError, match=r"custom:organizationId, custom:role"):
        await provider.check_pool()


async def test_tokens_are_cognito_id_tokens_for_the_app_client(
    cognito_provider: CognitoIdentityProvider, cognito_pool: CognitoPool
) -> None:
    login = Login("ignored", "jane@example.com", "org-1", Role.VIEWER)
    sub = await cognito_provider.create_login(login)
    await cognito_provider.set_password(Login(sub, login.email, "org-1", Role.VIEWER), "Passw0rd!")
    issued = await cognito_provider.sign_in("jane@example.com", "Passw0rd!")
    assert issued is not None
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert claims["iss"] == cognito_pool.issuer
    assert claims["aud"] == cognito_pool.client_id
    assert (claims["sub"], claims["token_use"], claims["custom:organizationId"]) == (sub, "id", "org-1")


async def test_the_pools_password_policy_is_reported_on_the_password_field(
    cognito: CognitoIdentityProviderClient, cognito_pool: CognitoPool
) -> None:
    await cognito.update_user_pool(
        UserPoolId=cognito_pool.pool_id,
        Policies={"PasswordPolicy": {"MinimumLength": 8, "RequireUppercase": True, "RequireSymbols": True}},
    )
    provider = CognitoIdentityProvider(
        cognito, user_pool_id=cognito_pool.pool_id, client_id=cognito_pool.client_id, jwks_url=cognito_pool.jwks_url
    )
    login = Login("ignored", "weak@example.com", "org-1", Role.VIEWER)
    login = Login(await provider.create_login(login), login.email, "org-1", Role.VIEWER)
    with pytest.raises(ValidationFailed) as caught:
        await provider.set_password(login, "alllowercase")
    assert [v.field for v in caught.value.violations] == ["password"]


async def test_a_user_made_outside_the_api_with_a_temporary_password_gets_a_clear_refusal(
    cognito: CognitoIdentityProviderClient, cognito_pool: CognitoPool, cognito_provider: CognitoIdentityProvider
) -> None:
    await cognito.admin_create_user(
        UserPoolId=cognito_pool.pool_id,
        Username="console@example.com",
        TemporaryPassword="Temp-Passw0rd!",
        MessageAction="SUPPRESS",
    )
    with pytest.raises(Unauthenticated) as caught:
        await cognito_provider.sign_in("console@example.com", "Temp-Passw0rd!")
    assert caught.value.reason == "SIGN_IN_CHALLENGE"
    assert caught.value.details == {"challenge": "NEW_PASSWORD_REQUIRED"}


async def test_an_unreachable_cognito_is_unavailable_not_a_crash() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1)
    async with aioboto3.Session().client("cognito-idp", endpoint_url=dead, region_name=REGION, config=config) as client:
        provider = CognitoIdentityProvider(
            client, user_pool_id=f"{REGION}_dead", client_id="c", jwks_url=f"{dead}/{REGION}_dead/.well-known/jwks.json"
        )
        with pytest.raises(Unavailable):
            await provider.sign_in("a@example.com", "password1")
        with pytest.raises(Unavailable):
            await provider.public_keys()
