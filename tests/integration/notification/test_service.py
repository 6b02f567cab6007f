"""The notification service as `iotmon up` builds it (bootstrap.build) beside a real identity service:
an alert event on the bus becomes an email over SMTP, and ListDeliveries shows it to admins over gRPC."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aioboto3
import grpc
import grpc.aio
import pytest
from iot.identity.v1 import identity_pb2, identity_pb2_grpc
from iot.notification.v1 import notification_pb2, notification_pb2_grpc
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from services.notification.adapters.bus_events import ALERT_TRIGGERED
from services.notification.adapters.delivery_log_sqlite import SqliteDeliveryLog
from services.notification.bootstrap import NotificationSettings, build
from services.runtime.auth import TokenVerifier
from services.runtime.bus import InProcessBus
from services.runtime.server import start_grpc_server
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from tests.integration.identity.test_identity_grpc import ADMIN_EMAIL, ADMIN_PASSWORD, ORG, serve
from tests.integration.notification.support import alert_triggered
from tests.support.moto import REGION
from tests.support.smtp import SmtpInbox


@dataclass
class Mesh:
    bus: InProcessBus
    notifications: notification_pb2_grpc.NotificationServiceAsyncStub
    identity: identity_pb2_grpc.IdentityServiceAsyncStub
    data_dir: Path

    async def admin(self) -> list[tuple[str, str]]:
        reply = await self.identity.IssueToken(
            identity_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
        )
        return [("authorization", f"Bearer {reply.access_token}")]


@pytest.fixture
async def mesh(tmp_path: Path, smtp: SmtpInbox, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Mesh]:
    monkeypatch.setenv("IOTMON_SMTP_URL", smtp.url)
    bus = InProcessBus()
    identity_ctx, identity_server = await serve(RuntimeSettings(data_dir=tmp_path), bus)
    settings = RuntimeSettings(data_dir=tmp_path, identity_addr=identity_server.address)
    ctx = BuildContext(settings=settings, bus=bus)
    built = await build(ctx, NotificationSettings())
    server = await start_grpc_server(
        built.registrations, host="127.0.0.1", port=0, verifier=TokenVerifier.from_settings(settings)
    )
    async with (
        grpc.aio.insecure_channel(server.address) as notification_channel,
        grpc.aio.insecure_channel(identity_server.address) as identity_channel,
    ):
        yield Mesh(
            bus,
            notification_pb2_grpc.NotificationServiceStub(notification_channel),
            identity_pb2_grpc.IdentityServiceStub(identity_channel),
            tmp_path,
        )
    await server.stop(0)
    await ctx.resources.aclose()
    await identity_server.stop(0)
    await identity_ctx.resources.aclose()


async def test_an_alert_event_is_mailed_over_smtp_and_listed_for_admins(mesh: Mesh, smtp: SmtpInbox) -> None:
    await mesh.bus.publish(ALERT_TRIGGERED, alert_triggered("alert-42", channels=("email",), organization_id=ORG))
    [mail] = smtp.messages
    assert mail["To"] == ADMIN_EMAIL
    body = mail.get_body(("plain",))
    assert body is not None
    assert "alert-42" in body.get_content()

    admin = await mesh.admin()
    listed = await mesh.notifications.ListDeliveries(notification_pb2.ListDeliveriesRequest(), metadata=admin)
    [delivery] = listed.items
    assert (delivery.alert_id, delivery.channel, delivery.status, delivery.attempts) == ("alert-42", "email", "sent", 1)
    assert delivery.sent_at.seconds > 0
    assert (listed.pagination.total_items, listed.pagination.page) == (1, 1)
    filtered = await mesh.notifications.ListDeliveries(
        notification_pb2.ListDeliveriesRequest(status="failed"), metadata=admin
    )
    assert list(filtered.items) == []


async def test_the_embedded_default_without_smtp_keeps_the_email_in_the_outbox(tmp_path: Path) -> None:
    bus = InProcessBus()
    settings = RuntimeSettings(data_dir=tmp_path, identity_addr="127.0.0.1:1")
    ctx = BuildContext(settings=settings, bus=bus)
    try:
        await build(ctx, NotificationSettings(smtp_url=None))
        assert (tmp_path / "notification.db").exists()
        assert (tmp_path / "notification-webhook.secret").stat().st_mode & 0o777 == 0o600
    finally:
        await ctx.resources.aclose()


async def test_listing_deliveries_is_for_admins_and_checks_filters(mesh: Mesh) -> None:
    admin = await mesh.admin()
    await mesh.identity.CreateUser(
        identity_pb2.CreateUserRequest(email="op@example.com", name="Op", role="operator", password="password1"),
        metadata=admin,
    )
    reply = await mesh.identity.IssueToken(identity_pb2.IssueTokenRequest(email="op@example.com", password="password1"))
    operator = [("authorization", f"Bearer {reply.access_token}")]
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await mesh.notifications.ListDeliveries(notification_pb2.ListDeliveriesRequest(), metadata=operator)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await mesh.notifications.ListDeliveries(
            notification_pb2.ListDeliveriesRequest(channel="pigeon"), metadata=admin
        )
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "channel" in (invalid.value.details() or "")


async def test_the_outbox_keeps_what_push_would_have_said(mesh: Mesh, smtp: SmtpInbox) -> None:
    admin = await mesh.admin()
    await mesh.identity.RegisterDeviceToken(
        identity_pb2.RegisterDeviceTokenRequest(token="fcm-1", platform="ios"), metadata=admin
    )
    await mesh.bus.publish(ALERT_TRIGGERED, alert_triggered("alert-7", channels=("push",), organization_id=ORG))
    listed = await mesh.notifications.ListDeliveries(
        notification_pb2.ListDeliveriesRequest(alert_id="alert-7"), metadata=admin
    )
    assert [(d.channel, d.status) for d in listed.items] == [("push", "sent")]
    log = SqliteDeliveryLog(mesh.data_dir / "notification.db")
    stored = await log.get(listed.items[0].delivery_id)
    await log.close()
    assert stored is not None
    assert json.loads(stored.content) == {
        "tokens": 1,
        "title": "Warning: High Temperature Alert",
        "body": "Office-Temp-Sensor-1: temperature > 40 (now 42.5)",
        "receipt": "outbox",
    }
    assert smtp.messages == []


@pytest.mark.needs_server
async def test_ses_and_sns_are_wired_by_settings(tmp_path: Path, moto_endpoint: str) -> None:
    sender = f"alerts-{uuid.uuid4().hex[:8]}@iotmon.example"
    async with aioboto3.Session().client("ses", endpoint_url=moto_endpoint, region_name=REGION) as ses:
        await ses.verify_email_identity(EmailAddress=sender)
    bus = InProcessBus()
    identity_ctx, identity_server = await serve(RuntimeSettings(data_dir=tmp_path), bus)
    settings = RuntimeSettings(data_dir=tmp_path, identity_addr=identity_server.address)
    ctx = BuildContext(settings=settings, bus=bus)
    notification = NotificationSettings(
        email_backend="ses", sms_backend="sns", email_from=sender, aws_endpoint_url=moto_endpoint, smtp_url=None
    )
    try:
        await build(ctx, notification)
        async with grpc.aio.insecure_channel(identity_server.address) as channel:
            identity = identity_pb2_grpc.IdentityServiceStub(channel)
            token = await identity.IssueToken(
                identity_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
            )
            phone = f"+1555{uuid.uuid4().int % 10_000_000:07d}"
            await identity.UpdateProfile(
                identity_pb2.UpdateProfileRequest(
                    phone_number=phone,
                    preferences=identity_pb2.Preferences(notifications=identity_pb2.NotificationChannels(sms=True)),
                ),
                metadata=[("authorization", f"Bearer {token.access_token}")],
            )
        event = alert_triggered("alert-cloud", severity="critical", channels=("email", "sms"), organization_id=ORG)
        await bus.publish(ALERT_TRIGGERED, event)
    finally:
        await ctx.resources.aclose()
        await identity_server.stop(0)
        await identity_ctx.resources.aclose()
    texts = [text for number, text in sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values() if number == phone]
    assert len(texts) == 1
    assert texts[0].startswith("iotmon CRITICAL: High Temperature Alert")
    mails = [m for m in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages if getattr(m, "source", "") == sender]
    assert len(mails) == 1
    assert ADMIN_EMAIL in mails[0].destinations
