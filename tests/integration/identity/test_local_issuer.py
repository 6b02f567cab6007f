"""The embedded issuer: a key that persists in the data directory, and tokens every service accepts."""

from __future__ import annotations

import json
import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
from argon2 import PasswordHasher

from services.identity.adapters.local_provider import LocalIdentityProvider
from services.identity.bootstrap import mint_local_token
from services.identity.domain.model import Login
from services.kernel.caller import Role
from services.kernel.errors import Unauthenticated, ValidationFailed
from services.runtime.auth import TokenVerifier
from services.runtime.keys import KEY_FILE_NAME, LocalSigningKey
from services.runtime.settings import RuntimeSettings


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    return RuntimeSettings(data_dir=tmp_path / "data")


def keys_dir(settings: RuntimeSettings) -> Path:
    return settings.data_dir / "keys"


def test_the_key_is_created_private_and_reused(settings: RuntimeSettings) -> None:
    first = LocalSigningKey.load_or_create(keys_dir(settings))
    key_file = keys_dir(settings) / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir(settings).stat().st_mode) == 0o700
    pem = key_file.read_bytes()
    second = LocalSigningKey.load_or_create(keys_dir(settings))
    assert second.kid == first.kid
    assert second.public_jwk == first.public_jwk
    assert key_file.read_bytes() == pem
    assert list(keys_dir(settings).iterdir()) == [key_file]  # no temporary files left behind


def test_processes_racing_to_create_the_key_end_up_with_one(settings: RuntimeSettings) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        keys = list(pool.map(lambda _: LocalSigningKey.load_or_create(keys_dir(settings)), range(4)))
    assert len({k.kid for k in keys}) == 1
    assert LocalSigningKey.load_or_create(keys_dir(settings)).kid == keys[0].kid


def test_the_published_key_set_is_the_signing_keys_public_half(settings: RuntimeSettings) -> None:
    key = LocalSigningKey.load_or_create(keys_dir(settings))
    key.publish(settings.jwks_path)
    document = json.loads(settings.jwks_path.read_text())
    public = key.public_jwk
    assert document == {
        "keys": [{"kty": "RSA", "kid": key.kid, "use": "sig", "alg": "RS256", "n": public["n"], "e": public["e"]}]
    }
    assert "d" not in document["keys"][0]


def test_a_minted_token_is_accepted_by_the_verifier_every_service_builds(settings: RuntimeSettings) -> None:
    token = mint_local_token(
        settings, organization_id="org-7", role="operator", user_id="user-7", email="o@example.com"
    )
    caller = TokenVerifier.from_settings(settings).verify(token)
    assert (caller.user_id, caller.organization_id, caller.role, caller.email) == (
        "user-7",
        "org-7",
        Role.OPERATOR,
        "o@example.com",
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["token_use"]) == ("iotmon-local", "iotmon", "id")
    assert claims["exp"] - claims["iat"] == 3600
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("RS256", LocalSigningKey.load_or_create(keys_dir(settings)).kid)


def test_minting_twice_uses_the_same_key_and_honours_ttl_and_missing_email(settings: RuntimeSettings) -> None:
    first = mint_local_token(settings, organization_id="o", role="viewer", user_id="u", email=None)
    second = mint_local_token(settings, organization_id="o", role="admin", user_id="u", email=None, ttl_seconds=60)
    assert jwt.get_unverified_header(first)["kid"] == jwt.get_unverified_header(second)["kid"]
    claims = jwt.decode(second, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60
    assert "email" not in claims
    assert TokenVerifier.from_settings(settings).verify(second).role == Role.ADMIN


def test_minting_refuses_an_unknown_role(settings: RuntimeSettings) -> None:
    with pytest.raises(ValidationFailed):
        mint_local_token(settings, organization_id="o", role="root", user_id="u", email=None)


def test_a_custom_issuer_and_audience_are_used_and_checked(tmp_path: Path) -> None:
    settings = RuntimeSettings(data_dir=tmp_path, jwt_issuer="https://id.example", jwt_audience="dashboard")
    token = mint_local_token(settings, organization_id="o", role="viewer", user_id="u", email=None)
    assert TokenVerifier.from_settings(settings).verify(token).user_id == "u"
    other = RuntimeSettings(data_dir=tmp_path, jwt_issuer="https://id.example", jwt_audience="someone-else")
    with pytest.raises(Unauthenticated) as caught:
        TokenVerifier.from_settings(other).verify(token)
    assert caught.value.reason == "INVALID_TOKEN"


async def test_sign_in_tokens_use_the_configured_lifetime_and_survive_a_restart(settings: RuntimeSettings) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    key = LocalSigningKey.load_or_create(keys_dir(settings))
    key.publish(settings.jwks_path)
    db = settings.data_dir / "credentials.db"
    provider = LocalIdentityProvider(
        db, key, issuer="iotmon-local", audience="iotmon", token_ttl_seconds=120, hasher=hasher
    )
    login = Login("user-1", "a@example.com", "org-1", Role.VIEWER)
    await provider.create_login(login)
    await provider.set_password(login, "password1")
    issued = await provider.sign_in("a@example.com", "password1")
    assert issued is not None
    assert issued.expires_in == 120
    provider.close()

    restarted_key = LocalSigningKey.load_or_create(keys_dir(settings))
    restarted = LocalIdentityProvider(db, restarted_key, issuer="iotmon-local", audience="iotmon", hasher=hasher)
    assert TokenVerifier.from_settings(settings).verify(issued.access_token).user_id == "user-1"
    assert await restarted.sign_in("a@example.com", "password1") is not None
    restarted.close()


async def test_passwords_are_stored_as_argon2_hashes(settings: RuntimeSettings) -> None:
    key = LocalSigningKey.load_or_create(keys_dir(settings))
    db = settings.data_dir / "credentials.db"
    provider = LocalIdentityProvider(db, key, issuer="iotmon-local", audience="iotmon")
    login = Login("user-1", "a@example.com", "org-1", Role.VIEWER)
    await provider.create_login(login)
    await provider.set_password(login, "my secret password")
    provider.close()
    with sqlite3.connect(db) as connection:
        (stored,) = connection.execute("SELECT password_hash FROM credentials").fetchone()
    assert stored.startswith("$argon2id$")
    assert "my secret password" not in stored
