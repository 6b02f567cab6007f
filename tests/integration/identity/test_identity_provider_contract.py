"""One contract for every IdentityProvider: the embedded issuer, and Cognito on the moto server.

Each provider comes with the verifier that services use for its tokens, so the tokens are checked the way
the mesh checks them (signature, issuer, audience, token_use, claims).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest

from services.identity.adapters.cognito_provider import CognitoIdentityProvider
from services.identity.adapters.local_provider import LocalIdentityProvider
from services.identity.domain.errors import UserAlreadyExists
from services.identity.domain.model import Login
from services.identity.ports import IdentityProvider
from services.kernel.caller import Role
from services.runtime.auth import FileJwks, TokenVerifier
from services.runtime.keys import LocalSigningKey
from tests.integration.identity.aws import cognito_client, create_cognito_pool


@dataclass
class Subject:
    provider: IdentityProvider
    verifier: TokenVerifier


@pytest.fixture(params=["local", "cognito"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    if request.param == "local":
        key = LocalSigningKey.load_or_create(tmp_path / "keys")
        key.publish(tmp_path / "keys" / "jwks.json")
        local = LocalIdentityProvider(tmp_path / "credentials.db", key, issuer="iotmon-local", audience="iotmon")
        yield Subject(
            local, TokenVerifier(FileJwks(tmp_path / "keys" / "jwks.json"), issuer="iotmon-local", audience="iotmon")
        )
        local.close()
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    async with cognito_client(endpoint) as client:
        pool = await create_cognito_pool(client, endpoint)
        cognito = CognitoIdentityProvider(
            client, user_pool_id=pool.pool_id, client_id=pool.client_id, jwks_url=pool.jwks_url
        )
        yield Subject(cognito, pool.verifier())


def jane(user_id: str = "user-jane") -> Login:
    return Login(user_id, "jane@example.com", "org-789", Role.OPERATOR)


async def signed_up(subject: Subject, password: str = "Passw0rd!") -> Login:
    login = jane()
    user_id = await subject.provider.create_login(login)
    login = Login(user_id, login.email, login.organization_id, login.role)
    await subject.provider.set_password(login, password)
    return login


async def test_a_signed_in_users_token_verifies_and_carries_the_claims(subject: Subject) -> None:
    login = await signed_up(subject)
    issued = await subject.provider.sign_in("jane@example.com", "Passw0rd!")
    assert issued is not None
    assert issued.token_type == "Bearer"
    assert 60 <= issued.expires_in <= 24 * 3600
    caller = subject.verifier.verify(issued.access_token)
    assert (caller.user_id, caller.organization_id, caller.role, caller.email) == (
        login.user_id,
        "org-789",
        Role.OPERATOR,
        "jane@example.com",
    )
    claims = jwt.decode(issued.access_token, options={"verify_signature": False})
    assert claims["token_use"] == "id"
    assert claims["exp"] - claims["iat"] == issued.expires_in


async def test_the_subject_is_a_stable_id(subject: Subject) -> None:
    user_id = await subject.provider.create_login(jane("user-proposed"))
    assert user_id
    assert "@" not in user_id


@pytest.mark.parametrize(
    ("email", "password"), [("jane@example.com", "wrong-password"), ("nobody@example.com", "Passw0rd!")]
)
async def test_wrong_credentials_give_no_token(subject: Subject, email: str, password: str) -> None:
    await signed_up(subject)
    assert await subject.provider.sign_in(email, password) is None


async def test_a_login_without_a_password_cannot_sign_in(subject: Subject) -> None:
    await subject.provider.create_login(jane())
    assert await subject.provider.sign_in("jane@example.com", "anything-at-all") is None


async def test_an_email_has_one_login(subject: Subject) -> None:
    await subject.provider.create_login(jane("user-1"))
    with pytest.raises(UserAlreadyExists):
        await subject.provider.create_login(jane("user-2"))


async def test_a_role_change_shows_in_the_next_token(subject: Subject) -> None:
    login = await signed_up(subject)
    await subject.provider.update_role(login, Role.ADMIN)
    issued = await subject.provider.sign_in("jane@example.com", "Passw0rd!")
    assert issued is not None
    assert subject.verifier.verify(issued.access_token).role == Role.ADMIN


async def test_a_new_password_replaces_the_old_one(subject: Subject) -> None:
    login = await signed_up(subject)
    await subject.provider.set_password(login, "N3w-Passw0rd!")
    assert await subject.provider.sign_in("jane@example.com", "Passw0rd!") is None
    assert await subject.provider.sign_in("jane@example.com", "N3w-Passw0rd!") is not None


async def test_a_deleted_login_cannot_sign_in_and_deleting_again_is_fine(subject: Subject) -> None:
    login = await signed_up(subject)
    await subject.provider.delete_login(login)
    assert await subject.provider.sign_in("jane@example.com", "Passw0rd!") is None
    await subject.provider.delete_login(login)
    assert await subject.provider.create_login(jane("user-again"))


async def test_the_public_keys_include_the_one_that_signs(subject: Subject) -> None:
    await signed_up(subject)
    issued = await subject.provider.sign_in("jane@example.com", "Passw0rd!")
    assert issued is not None
    kid = jwt.get_unverified_header(issued.access_token)["kid"]
    keys = await subject.provider.public_keys()
    assert kid in [k.kid for k in keys]
    key = next(k for k in keys if k.kid == kid)
    assert (key.kty, key.alg, key.use, key.e) == ("RSA", "RS256", "sig", "AQAB")
    public = jwt.PyJWK({"kty": key.kty, "n": key.n, "e": key.e, "alg": key.alg}).key
    assert jwt.decode(issued.access_token, public, algorithms=["RS256"], options={"verify_aud": False})
