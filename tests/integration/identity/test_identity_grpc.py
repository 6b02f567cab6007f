"""The identity service as `iotmon up` runs it: built by bootstrap.build, served on a real gRPC port.

Embedded adapters (SQLite, local issuer) in a temporary data directory; the server's verifier is the one
every service builds from the same settings, so a token IssueToken returns must be accepted by the mesh.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
import jwt
import pytest
from google.protobuf import json_format
from iot.identity.v1 import events_pb2, identity_pb2, identity_pb2_grpc

from services.identity.bootstrap import IdentitySettings, build, mint_local_token
from services.runtime.auth import TokenVerifier
from services.runtime.bus import InProcessBus
from services.runtime.server import RunningServer, start_grpc_server
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from tests.integration.runtime.test_grpc_server import details_of

ORG = "org-789"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "admin-password"


@dataclass
class Events:
    received: list[tuple[str, bytes]] = field(default_factory=list)

    async def __call__(self, routing_key: str, payload: bytes) -> None:
        self.received.append((routing_key, payload))

    def users(self, routing_key: str) -> list[events_pb2.UserCreated | events_pb2.UserUpdated]:
        parse = events_pb2.UserCreated if routing_key.endswith("created") else events_pb2.UserUpdated
        return [parse.FromString(p) for k, p in self.received if k == routing_key]


@dataclass
class Identity:
    stub: identity_pb2_grpc.IdentityServiceAsyncStub
    settings: RuntimeSettings
    events: Events

    async def sign_in(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> list[tuple[str, str]]:
        reply = await self.stub.IssueToken(identity_pb2.IssueTokenRequest(email=email, password=password))
        return [("authorization", f"Bearer {reply.access_token}")]

    def minted(self, org: str, role: str, user: str = "user-outsider") -> list[tuple[str, str]]:
        token = mint_local_token(self.settings, organization_id=org, role=role, user_id=user, email=None)
        return [("authorization", f"Bearer {token}")]


async def serve(settings: RuntimeSettings, bus: InProcessBus) -> tuple[BuildContext, RunningServer]:
    ctx = BuildContext(settings=settings, bus=bus)
    identity_settings = IdentitySettings(
        bootstrap_org=ORG, bootstrap_admin_email=ADMIN_EMAIL, bootstrap_admin_password=ADMIN_PASSWORD
    )
    built = await build(ctx, identity_settings)
    verifier = TokenVerifier.from_settings(settings)
    running = await start_grpc_server(built.registrations, host="127.0.0.1", port=0, verifier=verifier)
    return ctx, running


@pytest.fixture
async def identity(tmp_path: Path) -> AsyncIterator[Identity]:
    settings = RuntimeSettings(data_dir=tmp_path / "data")
    bus, events = InProcessBus(), Events()
    bus.subscribe("identity.*", events)
    ctx, running = await serve(settings, bus)
    async with grpc.aio.insecure_channel(running.address) as channel:
        yield Identity(identity_pb2_grpc.IdentityServiceStub(channel), settings, events)
    await running.stop(0)
    await ctx.resources.aclose()


def status_of(caught: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> tuple[grpc.StatusCode, str]:
    return caught.value.code(), details_of(caught.value)[0]


async def test_sign_in_then_read_the_profile_with_the_token(identity: Identity) -> None:
    reply = await identity.stub.IssueToken(
        identity_pb2.IssueTokenRequest(email="Admin@Example.com", password=ADMIN_PASSWORD)
    )
    assert (reply.token_type, reply.expires_in) == ("Bearer", 3600)
    profile = await identity.stub.GetProfile(
        identity_pb2.GetProfileRequest(), metadata=[("authorization", f"Bearer {reply.access_token}")]
    )
    assert (profile.user.email, profile.user.role, profile.user.organization_id) == (ADMIN_EMAIL, "admin", ORG)
    assert jwt.decode(reply.access_token, options={"verify_signature": False})["sub"] == profile.user.user_id


async def test_the_profile_has_the_spec_shape(identity: Identity) -> None:
    profile = await identity.stub.GetProfile(identity_pb2.GetProfileRequest(), metadata=await identity.sign_in())
    body = json_format.MessageToDict(profile.user, always_print_fields_with_no_presence=True)
    assert set(body) == {
        "userId",
        "email",
        "name",
        "organizationId",
        "role",
        "preferences",
        "deviceTokens",
        "createdAt",
    }
    assert body["preferences"] == {
        "notifications": {"email": True, "push": True, "sms": False},
        "quietHours": {"enabled": False, "start": "22:00", "end": "07:00", "timezone": "UTC"},
        "theme": "light",
        "language": "en",
    }
    assert body["deviceTokens"] == []
    assert body["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    ("email", "password"), [(ADMIN_EMAIL, "wrong-password"), ("nobody@example.com", ADMIN_PASSWORD)]
)
async def test_bad_credentials_are_unauthenticated_alike(identity: Identity, email: str, password: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.IssueToken(identity_pb2.IssueTokenRequest(email=email, password=password))
    assert status_of(caught) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert caught.value.details() == "invalid email or password"


async def test_jwks_is_anonymous_and_holds_the_signing_key(identity: Identity) -> None:
    keys = await identity.stub.GetJwks(identity_pb2.GetJwksRequest())
    metadata = await identity.sign_in()
    kid = jwt.get_unverified_header(metadata[0][1].removeprefix("Bearer "))["kid"]
    assert [k.kid for k in keys.keys] == [kid]
    assert (keys.keys[0].kty, keys.keys[0].alg) == ("RSA", "RS256")


async def test_calls_without_a_token_are_unauthenticated(identity: Identity) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.GetProfile(identity_pb2.GetProfileRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_created_user_signs_in_with_the_temporary_password(identity: Identity) -> None:
    admin = await identity.sign_in()
    created = await identity.stub.CreateUser(
        identity_pb2.CreateUserRequest(email="Jane@Example.com", name="Jane", role="viewer"), metadata=admin
    )
    assert created.user.HasField("temporary_password")
    viewer = await identity.sign_in("jane@example.com", created.user.temporary_password)
    me = await identity.stub.GetProfile(identity_pb2.GetProfileRequest(), metadata=viewer)
    assert (me.user.user_id, me.user.role, me.user.HasField("temporary_password")) == (
        created.user.user_id,
        "viewer",
        False,
    )
    again = await identity.stub.GetUser(identity_pb2.GetUserRequest(user_id=created.user.user_id), metadata=admin)
    assert not again.user.HasField("temporary_password")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.CreateUser(
            identity_pb2.CreateUserRequest(email="jane@example.com", name="Jane", role="viewer"), metadata=admin
        )
    assert status_of(caught) == (grpc.StatusCode.ALREADY_EXISTS, "USER_ALREADY_EXISTS")


async def test_a_viewer_may_not_list_users(identity: Identity) -> None:
    admin = await identity.sign_in()
    await identity.stub.CreateUser(
        identity_pb2.CreateUserRequest(email="v@example.com", name="V", role="viewer", password="password1"),
        metadata=admin,
    )
    viewer = await identity.sign_in("v@example.com", "password1")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.ListUsers(identity_pb2.ListUsersRequest(), metadata=viewer)
    assert status_of(caught) == (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    listed = await identity.stub.ListUsers(identity_pb2.ListUsersRequest(role="viewer", page_size=10), metadata=admin)
    assert [u.email for u in listed.items] == ["v@example.com"]
    assert (listed.pagination.page, listed.pagination.page_size, listed.pagination.total_items) == (1, 10, 1)


async def test_another_organizations_user_is_not_found(identity: Identity) -> None:
    me = await identity.stub.GetProfile(identity_pb2.GetProfileRequest(), metadata=await identity.sign_in())
    stranger = identity.minted("org-other", "admin")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.GetUser(identity_pb2.GetUserRequest(user_id=me.user.user_id), metadata=stranger)
    assert status_of(caught) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
    assert ADMIN_EMAIL not in (caught.value.details() or "")


async def test_the_last_admin_keeps_the_role(identity: Identity) -> None:
    admin = await identity.sign_in()
    me = await identity.stub.GetProfile(identity_pb2.GetProfileRequest(), metadata=admin)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.UpdateUserRole(
            identity_pb2.UpdateUserRoleRequest(user_id=me.user.user_id, role="viewer"), metadata=admin
        )
    assert status_of(caught) == (grpc.StatusCode.FAILED_PRECONDITION, "LAST_ADMIN")


async def test_a_role_change_reaches_the_next_token(identity: Identity) -> None:
    admin = await identity.sign_in()
    created = await identity.stub.CreateUser(
        identity_pb2.CreateUserRequest(email="o@example.com", name="O", role="viewer", password="password1"),
        metadata=admin,
    )
    updated = await identity.stub.UpdateUserRole(
        identity_pb2.UpdateUserRoleRequest(user_id=created.user.user_id, role="operator"), metadata=admin
    )
    assert updated.user.role == "operator"
    token = (await identity.sign_in("o@example.com", "password1"))[0][1].removeprefix("Bearer ")
    assert TokenVerifier.from_settings(identity.settings).verify(token).role.label == "operator"


async def test_preferences_and_device_tokens_of_the_caller(identity: Identity) -> None:
    admin = await identity.sign_in()
    patch = identity_pb2.Preferences(
        quiet_hours=identity_pb2.QuietHours(enabled=True, end="08:00", timezone="America/New_York"), theme="dark"
    )
    updated = await identity.stub.UpdatePreferences(
        identity_pb2.UpdatePreferencesRequest(preferences=patch), metadata=admin
    )
    quiet = updated.user.preferences.quiet_hours
    assert (quiet.enabled, quiet.start, quiet.end, quiet.timezone) == (True, "22:00", "08:00", "America/New_York")
    assert updated.user.preferences.notifications.email is True
    renamed = await identity.stub.UpdateProfile(identity_pb2.UpdateProfileRequest(name="Root"), metadata=admin)
    assert (renamed.user.name, renamed.user.preferences.theme) == ("Root", "dark")
    with_token = await identity.stub.RegisterDeviceToken(
        identity_pb2.RegisterDeviceTokenRequest(token="fcm-token-123", platform="android"), metadata=admin
    )
    assert list(with_token.user.device_tokens) == ["fcm-token-123"]


async def test_invalid_preferences_name_the_field(identity: Identity) -> None:
    patch = identity_pb2.Preferences(quiet_hours=identity_pb2.QuietHours(timezone="Mars/Olympus"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await identity.stub.UpdatePreferences(
            identity_pb2.UpdatePreferencesRequest(preferences=patch), metadata=await identity.sign_in()
        )
    reason, _, fields = details_of(caught.value)
    assert (caught.value.code(), reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "VALIDATION_ERROR",
        ["preferences.quietHours.timezone"],
    )


async def test_changes_are_published_as_events(identity: Identity) -> None:
    admin = await identity.sign_in()
    created = await identity.stub.CreateUser(
        identity_pb2.CreateUserRequest(email="e@example.com", name="E", role="viewer"), metadata=admin
    )
    await identity.stub.UpdateUserRole(
        identity_pb2.UpdateUserRoleRequest(user_id=created.user.user_id, role="operator"), metadata=admin
    )
    me = await identity.stub.GetProfile(identity_pb2.GetProfileRequest(), metadata=admin)
    created_events = identity.events.users("identity.user_created")
    assert [e.user.email for e in created_events] == [ADMIN_EMAIL, "e@example.com"]
    assert created_events[0].meta.actor_user_id == ""  # the bootstrap admin was made by no one
    assert created_events[1].meta.actor_user_id == me.user.user_id
    assert created_events[1].meta.organization_id == ORG
    assert created_events[1].meta.event_id.startswith("evt-")
    assert not created_events[1].user.HasField("temporary_password")
    (updated,) = identity.events.users("identity.user_updated")
    assert (updated.user.user_id, updated.user.role) == (created.user.user_id, "operator")


async def test_a_restart_keeps_users_keys_and_tokens(identity: Identity) -> None:
    admin = await identity.sign_in()
    ctx, running = await serve(identity.settings, InProcessBus())
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = identity_pb2_grpc.IdentityServiceStub(channel)
            listed = await stub.ListUsers(identity_pb2.ListUsersRequest(), metadata=admin)
    finally:
        await running.stop(0)
        await ctx.resources.aclose()
    assert [u.email for u in listed.items] == [ADMIN_EMAIL]
