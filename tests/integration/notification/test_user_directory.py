"""GrpcUserDirectory against a real identity service (its bootstrap, SQLite, a free port)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
import pytest
from iot.identity.v1 import identity_pb2, identity_pb2_grpc

from services.kernel.errors import Unavailable
from services.notification.adapters.user_directory import GrpcUserDirectory
from services.notification.domain.model import ChannelPreferences, QuietHours
from services.runtime.bus import InProcessBus
from services.runtime.clients import open_channel
from services.runtime.service_tokens import ServiceTokens
from services.runtime.settings import RuntimeSettings
from tests.integration.identity.test_identity_grpc import ADMIN_EMAIL, ORG, Events, Identity, serve
from tests.support.servers import free_port


@dataclass
class Running:
    identity: Identity
    address: str
    bus: InProcessBus
    service_channel: grpc.aio.Channel


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    settings = RuntimeSettings(data_dir=tmp_path / "data")
    bus = InProcessBus()
    ctx, server = await serve(settings, bus)
    async with (
        grpc.aio.insecure_channel(server.address) as user_channel,
        open_channel(server.address, service_tokens=ServiceTokens(settings, "notification")) as service_channel,
    ):
        stub = identity_pb2_grpc.IdentityServiceStub(user_channel)
        yield Running(Identity(stub, settings, Events()), server.address, bus, service_channel)
    await server.stop(0)
    await ctx.resources.aclose()


async def test_users_with_their_preferences_tokens_and_phone_numbers(running: Running) -> None:
    identity = running.identity
    admin = await identity.sign_in()
    await identity.stub.UpdateProfile(
        identity_pb2.UpdateProfileRequest(
            phone_number="+1 555 555 0100",
            preferences=identity_pb2.Preferences(
                notifications=identity_pb2.NotificationChannels(sms=True),
                quiet_hours=identity_pb2.QuietHours(enabled=True, timezone="Europe/Paris"),
            ),
        ),
        metadata=admin,
    )
    await identity.stub.RegisterDeviceToken(
        identity_pb2.RegisterDeviceTokenRequest(token="fcm-1", platform="android"), metadata=admin
    )
    await identity.stub.CreateUser(
        identity_pb2.CreateUserRequest(email="viewer@example.com", name="Vera", role="viewer"), metadata=admin
    )
    users = await GrpcUserDirectory(running.service_channel).users_to_notify(ORG)
    by_email = {u.email: u for u in users}
    assert set(by_email) == {ADMIN_EMAIL, "viewer@example.com"}
    boss = by_email[ADMIN_EMAIL]
    assert (boss.phone_number, boss.device_tokens, boss.role) == ("+15555550100", ("fcm-1",), "admin")
    assert boss.channels == ChannelPreferences(email=True, push=True, sms=True)
    assert boss.quiet_hours == QuietHours(enabled=True, start="22:00", end="07:00", timezone="Europe/Paris")
    vera = by_email["viewer@example.com"]
    assert (vera.name, vera.phone_number, vera.device_tokens) == ("Vera", None, ())
    assert await GrpcUserDirectory(running.service_channel).users_to_notify("org-nobody") == []


async def test_the_listing_is_internal(running: Running) -> None:
    admin = await running.identity.sign_in()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.identity.stub.ListUsersToNotify(
            identity_pb2.ListUsersToNotifyRequest(organization_id=ORG), metadata=admin
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_answers_are_cached_shared_and_dropped_on_a_user_event(running: Running) -> None:
    directory = GrpcUserDirectory(running.service_channel, ttl_seconds=60)
    running.bus.subscribe("identity.#", directory.on_user_event, group=None)
    results = await asyncio.gather(*(directory.users_to_notify(ORG) for _ in range(10)))
    assert directory.calls == 1
    assert all(r == results[0] for r in results)
    await directory.users_to_notify(ORG)
    assert directory.calls == 1
    admin = await running.identity.sign_in()
    await running.identity.stub.UpdateProfile(identity_pb2.UpdateProfileRequest(name="Renamed"), metadata=admin)
    [renamed] = await directory.users_to_notify(ORG)
    assert (renamed.name, directory.calls) == ("Renamed", 2)


async def test_an_unreachable_identity_service_is_unavailable(tmp_path: Path) -> None:
    settings = RuntimeSettings(data_dir=tmp_path)
    async with open_channel(f"127.0.0.1:{free_port()}", service_tokens=ServiceTokens(settings, "notification")) as ch:
        with pytest.raises(Unavailable):
            await GrpcUserDirectory(ch, timeout_seconds=1).users_to_notify(ORG)
