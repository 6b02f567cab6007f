"""The identity service in its production shape: DynamoDB + Cognito (on moto), built by bootstrap.build and
served on a real gRPC port whose verifier trusts the pool, exactly as every service would be configured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import jwt
import pytest
from iot.identity.v1 import identity_pb2, identity_pb2_grpc

from services.identity.bootstrap import IdentitySettings, build
from services.runtime.auth import TokenVerifier
from services.runtime.bus import InProcessBus
from services.runtime.server import start_grpc_server
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from tests.integration.identity.aws import CognitoPool, new_table_name

ADMIN_EMAIL, ADMIN_PASSWORD = "root@example.com", "R00t-Passw0rd!"


@pytest.fixture
async def stub(
    tmp_path: Path, moto_endpoint: str, cognito_pool: CognitoPool
) -> AsyncIterator[identity_pb2_grpc.IdentityServiceAsyncStub]:
    runtime = RuntimeSettings(
        data_dir=tmp_path,
        jwt_issuer=cognito_pool.issuer,
        jwt_audience=cognito_pool.client_id,
        jwks_url=cognito_pool.jwks_url,
        jwt_token_use="id",
    )
    identity = IdentitySettings(
        store="dynamodb",
        provider="cognito",
        dynamodb_table=new_table_name(),
        cognito_user_pool_id=cognito_pool.pool_id,
        cognito_client_id=cognito_pool.client_id,
        aws_endpoint_url=moto_endpoint,
        bootstrap_org="org-aws",
        bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=ADMIN_PASSWORD,
    )
    ctx = BuildContext(settings=runtime, bus=InProcessBus())
    built = await build(ctx, identity)
    running = await start_grpc_server(
        built.registrations, host="127.0.0.1", port=0, verifier=TokenVerifier.from_settings(runtime)
    )
    async with grpc.aio.insecure_channel(running.address) as channel:
        yield identity_pb2_grpc.IdentityServiceStub(channel)
    await running.stop(0)
    await ctx.resources.aclose()


async def bearer(stub: identity_pb2_grpc.IdentityServiceAsyncStub, email: str, password: str) -> list[tuple[str, str]]:
    reply = await stub.IssueToken(identity_pb2.IssueTokenRequest(email=email, password=password))
    return [("authorization", f"Bearer {reply.access_token}")]


async def test_sign_in_with_cognito_and_use_the_id_token(stub: identity_pb2_grpc.IdentityServiceAsyncStub) -> None:
    reply = await stub.IssueToken(identity_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD))
    claims = jwt.decode(reply.access_token, options={"verify_signature": False})
    metadata = [("authorization", f"Bearer {reply.access_token}")]
    me = await stub.GetProfile(identity_pb2.GetProfileRequest(), metadata=metadata)
    # The profile's id is the pool's `sub`, so every service sees one id per user.
    assert me.user.user_id == claims["sub"]
    assert (me.user.email, me.user.role, me.user.organization_id) == (ADMIN_EMAIL, "admin", "org-aws")
    keys = await stub.GetJwks(identity_pb2.GetJwksRequest())
    assert jwt.get_unverified_header(reply.access_token)["kid"] in [k.kid for k in keys.keys]


async def test_users_created_through_the_api_live_in_cognito_and_dynamodb(
    stub: identity_pb2_grpc.IdentityServiceAsyncStub,
) -> None:
    admin = await bearer(stub, ADMIN_EMAIL, ADMIN_PASSWORD)
    created = await stub.CreateUser(
        identity_pb2.CreateUserRequest(email="ops@example.com", name="Ops", role="viewer"), metadata=admin
    )
    operator = await bearer(stub, "ops@example.com", created.user.temporary_password)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListUsers(identity_pb2.ListUsersRequest(), metadata=operator)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    await stub.UpdateUserRole(
        identity_pb2.UpdateUserRoleRequest(user_id=created.user.user_id, role="admin"), metadata=admin
    )
    promoted = await bearer(stub, "ops@example.com", created.user.temporary_password)
    listed = await stub.ListUsers(identity_pb2.ListUsersRequest(), metadata=promoted)
    assert [(u.email, u.role) for u in listed.items] == [(ADMIN_EMAIL, "admin"), ("ops@example.com", "admin")]

    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await bearer(stub, "ops@example.com", "not-the-password")
    assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
