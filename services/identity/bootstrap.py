"""The identity service's composition root: the one place that picks adapters from settings.

Embedded defaults: profiles in SQLite (data_dir/identity.db), passwords in SQLite (data_dir/credentials.db)
and tokens from a local RS256 key. Production: DynamoDB and a Cognito user pool.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from iot.identity.v1 import identity_pb2_grpc
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.identity.adapters.bus_events import BusUserEvents
from services.identity.adapters.local_tokens import LocalTokenIssuer
from services.identity.domain.errors import UserAlreadyExists
from services.identity.domain.service import IdentityService
from services.identity.ports import IdentityProvider, UserRepository
from services.identity.servicer import IdentityServicer
from services.kernel.caller import Role
from services.runtime.contract import service_descriptor
from services.runtime.keys import LocalSigningKey
from services.runtime.server import ServiceRegistration
from services.runtime.service import BuildContext, BuiltService
from services.runtime.settings import RuntimeSettings

log = logging.getLogger("iotmon.identity")


class IdentitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_IDENTITY_", extra="ignore")

    store: Literal["sqlite", "dynamodb"] = "sqlite"
    provider: Literal["local", "cognito"] = "local"
    dynamodb_table: str = "iotmon-identity"
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    # For moto or LocalStack; botocore itself also honours AWS_ENDPOINT_URL.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("IOTMON_IDENTITY_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    # Lifetime of tokens the embedded issuer signs (Cognito's lifetime is set on its app client).
    token_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # When all three are set and no user has that email, this admin is created on start (`iotmon up`).
    bootstrap_org: str | None = None
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = None


async def build(ctx: BuildContext, settings: IdentitySettings | None = None) -> BuiltService:
    settings = settings or IdentitySettings()
    users = await _user_repository(ctx, settings)
    provider = await _identity_provider(ctx, settings)
    service = IdentityService(users, provider, BusUserEvents(ctx.bus))
    await _create_bootstrap_admin(service, settings)
    registration = ServiceRegistration(
        service_descriptor("identity"),
        identity_pb2_grpc.add_IdentityServiceServicer_to_server,
        IdentityServicer(service),
    )
    return BuiltService("identity", [registration])


def mint_local_token(
    settings: RuntimeSettings,
    *,
    organization_id: str,
    role: str,
    user_id: str,
    email: str | None,
    ttl_seconds: int = 3600,
) -> str:
    """A token signed with the data directory's key, accepted by an `iotmon up` that uses the same directory.

    Creates the key (and publishes its JWK set) when no identity service has run there yet.
    """
    key = _local_signing_key(settings)
    issuer = LocalTokenIssuer(key, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    return issuer.issue(
        user_id=user_id, email=email, organization_id=organization_id, role=Role.parse(role), ttl_seconds=ttl_seconds
    )


async def _user_repository(ctx: BuildContext, settings: IdentitySettings) -> UserRepository:
    if settings.store == "dynamodb":
        # Imported here: aioboto3 is the optional `aws` extra, absent from embedded-only installs.
        import aioboto3

        from services.identity.adapters.dynamodb_users import DynamoDbUserRepository

        client = await ctx.resources.enter_async_context(
            aioboto3.Session().client("dynamodb", endpoint_url=settings.aws_endpoint_url)
        )
        repository = DynamoDbUserRepository(client, settings.dynamodb_table)
        await repository.ensure_table()
        return repository
    from services.identity.adapters.sqlite_users import SqliteUserRepository

    sqlite = SqliteUserRepository(ctx.settings.data_dir / "identity.db")
    ctx.resources.callback(sqlite.close)
    return sqlite


async def _identity_provider(ctx: BuildContext, settings: IdentitySettings) -> IdentityProvider:
    if settings.provider == "cognito":
        return await _cognito_provider(ctx, settings)
    from services.identity.adapters.local_provider import LocalIdentityProvider

    runtime = ctx.settings
    # Key generation takes ~100 ms the first time: keep it off the event loop.
    key = await asyncio.to_thread(_local_signing_key, runtime)
    local = LocalIdentityProvider(
        runtime.data_dir / "credentials.db",
        key,
        issuer=runtime.jwt_issuer,
        audience=runtime.jwt_audience,
        token_ttl_seconds=settings.token_ttl_seconds,
    )
    ctx.resources.callback(local.close)
    return local


async def _cognito_provider(ctx: BuildContext, settings: IdentitySettings) -> IdentityProvider:
    import aioboto3

    from services.identity.adapters.cognito_provider import CognitoIdentityProvider, cognito_issuer, cognito_jwks_url

    pool_id, client_id = settings.cognito_user_pool_id, settings.cognito_client_id
    if not pool_id or not client_id:
        raise ValueError("provider=cognito needs IOTMON_IDENTITY_COGNITO_USER_POOL_ID and _COGNITO_CLIENT_ID")
    if ctx.settings.jwt_issuer != cognito_issuer(pool_id) or not ctx.settings.jwks_url:
        # Not fatal (a proxy may front the JWKS), but the usual cause of every call failing with 401.
        log.warning(
            "token verification is not set up for this Cognito pool",
            extra={"expectedIssuer": cognito_issuer(pool_id), "expectedJwksUrl": cognito_jwks_url(pool_id)},
        )
    region = pool_id.split("_", 1)[0]
    client = await ctx.resources.enter_async_context(
        aioboto3.Session().client("cognito-idp", region_name=region, endpoint_url=settings.aws_endpoint_url)
    )
    provider = CognitoIdentityProvider(
        client,
        user_pool_id=pool_id,
        client_id=client_id,
        jwks_url=cognito_jwks_url(pool_id, settings.aws_endpoint_url),
    )
    await provider.check_pool()
    return provider


def _local_signing_key(settings: RuntimeSettings) -> LocalSigningKey:
    """The data directory's signing key (created on first use), with its public half published for verifiers."""
    key = LocalSigningKey.load_or_create(settings.keys_dir)
    key.publish(settings.jwks_path)
    return key


async def _create_bootstrap_admin(service: IdentityService, settings: IdentitySettings) -> None:
    org, email, password = settings.bootstrap_org, settings.bootstrap_admin_email, settings.bootstrap_admin_password
    if not (org and email and password):
        return
    try:
        created = await service.ensure_admin(org, email, password, name="Administrator")
    except UserAlreadyExists:
        # The provider knows the email but there is no profile (e.g. made in the Cognito console).
        log.warning("bootstrap admin exists in the identity provider only; not created", extra={"email": email})
        return
    if created is not None:
        log.info("bootstrap admin created", extra={"organizationId": org, "userId": created.user.user_id})
