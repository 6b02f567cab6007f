"""Firmware notices for real: firmware events (real protobuf) on the in-process bus reach the notification
service as `iotmon up` builds it beside a real identity service, and on RabbitMQ reach a dispatcher in a
consumer group; the organization's admins get one email per notice over SMTP, nobody else gets any."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import grpc.aio
import httpx
import pytest
from iot.common.v1 import common_pb2
from iot.firmware.v1 import events_pb2, firmware_pb2
from iot.identity.v1 import identity_pb2, identity_pb2_grpc
from iot.notification.v1 import notification_pb2, notification_pb2_grpc

from services.kernel.ids import new_id
from services.kernel.pagination import PageRequest
from services.notification.adapters.bus_events import BusDeliveryEvents
from services.notification.adapters.delivery_log_memory import InMemoryDeliveryLog
from services.notification.adapters.email_smtp import SmtpEmailSender, SmtpServer
from services.notification.adapters.firmware_events import (
    DEPLOYMENT_CHANGED,
    FIRMWARE_VALIDATED,
    subscribe_to_firmware,
)
from services.notification.adapters.outbox import OutboxPushSender, OutboxSmsSender
from services.notification.adapters.templates import JinjaRenderer
from services.notification.adapters.webhook_http import HttpWebhookSender
from services.notification.bootstrap import NotificationSettings, build
from services.notification.domain.dispatcher import NotificationDispatcher
from services.notification.domain.model import DeliveryFilter, DeliveryStatus
from services.notification.ports import Senders
from services.runtime.auth import TokenVerifier
from services.runtime.bus import InProcessBus
from services.runtime.server import start_grpc_server
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from tests.integration.bus.support import RabbitMqCluster
from tests.integration.identity.test_identity_grpc import ADMIN_EMAIL, ADMIN_PASSWORD, ORG, serve
from tests.integration.notification.support import FakeUserDirectory, user
from tests.support.servers import require_server
from tests.support.smtp import SmtpInbox

AT = datetime(2025, 11, 15, 14, 0, tzinfo=UTC)


def meta(org: str) -> common_pb2.EventMeta:
    message = common_pb2.EventMeta(event_id=new_id("evt"), organization_id=org)
    message.occurred_at.FromDatetime(AT)
    return message


def firmware_validated(status: str, reason: str = "", org: str = ORG) -> events_pb2.FirmwareValidated:
    firmware = firmware_pb2.Firmware(
        firmware_id="fw-123", version="v2.1.0", device_types=["temperature-sensor-v2"], status=status
    )
    if reason:
        firmware.rejection_reason = reason
    return events_pb2.FirmwareValidated(meta=meta(org), firmware=firmware)


def deployment_changed(status: str, reason: str = "", org: str = ORG) -> events_pb2.DeploymentChanged:
    deployment = firmware_pb2.Deployment(
        deployment_id="dep-456",
        firmware_id="fw-123",
        firmware_version="v2.1.0",
        strategy="staged",
        status=status,
        progress=firmware_pb2.DeploymentProgress(total=30, succeeded=18, failed=2, pending=10),
    )
    if reason:
        deployment.halt_reason = reason
    return events_pb2.DeploymentChanged(meta=meta(org), deployment=deployment)


async def inbox_holds(inbox: SmtpInbox, count: int) -> None:
    """Wait (off the event loop, which sends) until `count` emails arrived, then a moment for any extra."""
    await asyncio.to_thread(inbox.wait_for, count, 15)
    await asyncio.sleep(0.3)


@pytest.fixture
async def mesh(
    tmp_path: Path, smtp: SmtpInbox, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[InProcessBus, identity_pb2_grpc.IdentityServiceAsyncStub, str]]:
    """Identity (bootstrapped with one admin) and notification as their bootstraps build them, one bus."""
    monkeypatch.setenv("IOTMON_SMTP_URL", smtp.url)
    bus = InProcessBus()
    identity_ctx, identity_server = await serve(RuntimeSettings(data_dir=tmp_path), bus)
    settings = RuntimeSettings(data_dir=tmp_path, identity_addr=identity_server.address)
    ctx = BuildContext(settings=settings, bus=bus)
    built = await build(ctx, NotificationSettings())
    server = await start_grpc_server(
        built.registrations, host="127.0.0.1", port=0, verifier=TokenVerifier.from_settings(settings)
    )
    try:
        async with grpc.aio.insecure_channel(identity_server.address) as channel:
            yield bus, identity_pb2_grpc.IdentityServiceStub(channel), server.address
    finally:
        await server.stop(0)
        await ctx.resources.aclose()
        await identity_server.stop(0)
        await identity_ctx.resources.aclose()


async def test_admins_are_mailed_once_per_firmware_notice_and_operators_never(
    mesh: tuple[InProcessBus, identity_pb2_grpc.IdentityServiceAsyncStub, str], smtp: SmtpInbox
) -> None:
    bus, identity, notification_address = mesh
    signed_in = await identity.IssueToken(identity_pb2.IssueTokenRequest(email=ADMIN_EMAIL, password=ADMIN_PASSWORD))
    admin = [("authorization", f"Bearer {signed_in.access_token}")]
    await identity.CreateUser(
        identity_pb2.CreateUserRequest(email="op@example.com", name="Op", role="operator", password="password1"),
        metadata=admin,
    )

    rejected = firmware_validated("rejected", "header checksum mismatch")
    await bus.publish(FIRMWARE_VALIDATED, rejected)
    await bus.publish(FIRMWARE_VALIDATED, rejected)  # redelivered
    await bus.publish(DEPLOYMENT_CHANGED, deployment_changed("in_progress"))  # not a notice
    halted = deployment_changed("halted", "batch 2 success rate 80% below 95%")
    await bus.publish(DEPLOYMENT_CHANGED, halted)
    await bus.publish(DEPLOYMENT_CHANGED, replace_meta(halted))  # the same halt told again
    await bus.publish(DEPLOYMENT_CHANGED, deployment_changed("halted", org="org-elsewhere"))  # nobody there
    await inbox_holds(smtp, 2)

    mails = smtp.received()
    assert [str(m["To"]) for m in mails] == [ADMIN_EMAIL, ADMIN_EMAIL]
    assert [str(m["Subject"]) for m in mails] == [
        "[WARNING] Firmware v2.1.0 (fw-123) rejected",
        "[WARNING] Deployment dep-456 of firmware v2.1.0 halted",
    ]
    bodies = [m.get_body(("plain",)) for m in mails]
    assert bodies[0] is not None
    assert "header checksum mismatch" in bodies[0].get_content()
    assert bodies[1] is not None
    assert "18 succeeded, 2 failed, of 30" in bodies[1].get_content()
    assert smtp.to("op@example.com") == []

    async with grpc.aio.insecure_channel(notification_address) as channel:
        stub = notification_pb2_grpc.NotificationServiceStub(channel)
        listed = await stub.ListDeliveries(
            notification_pb2.ListDeliveriesRequest(alert_id="deployment:dep-456:halted"), metadata=admin
        )
    # A warning also asks for push; the admin registered no device token, and the log says so.
    assert sorted((d.channel, d.status, d.error) for d in listed.items) == [
        ("email", "sent", ""),
        ("push", "suppressed", "no push device token registered"),
    ]
    assert bus.dead_letters == []


def replace_meta(event: events_pb2.DeploymentChanged) -> events_pb2.DeploymentChanged:
    """The same deployment state in a new event (a new event id), as a repeated progress event would be."""
    again = events_pb2.DeploymentChanged()
    again.CopyFrom(event)
    again.meta.event_id = new_id("evt")
    return again


@pytest.mark.needs_server
async def test_on_rabbitmq_a_completed_deployment_mails_each_admin_once(smtp: SmtpInbox) -> None:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    cluster = RabbitMqCluster()
    group = cluster.group("notification")
    admins = [replace(user("admin-1"), role="admin"), replace(user("admin-2"), role="admin")]
    directory = FakeUserDirectory([*admins, replace(user("viewer-1"), role="viewer")])
    log = InMemoryDeliveryLog()
    try:
        async with httpx.AsyncClient() as http:
            consumer = cluster.member()
            senders = Senders(
                email=SmtpEmailSender(SmtpServer.from_url(smtp.url), "alerts@iotmon.example", timeout_seconds=5),
                push=OutboxPushSender(),
                sms=OutboxSmsSender(),
                webhook=HttpWebhookSender(http, b"secret"),
            )
            renderer = JinjaRenderer()
            dispatcher = NotificationDispatcher(directory, log, renderer, senders, BusDeliveryEvents(consumer))
            subscribe_to_firmware(consumer, dispatcher.notify_admins, group=group)
            await consumer.start()
            publisher = cluster.member()
            await publisher.start()

            completed = deployment_changed("completed")
            await publisher.publish(DEPLOYMENT_CHANGED, completed)
            await publisher.publish(DEPLOYMENT_CHANGED, completed)  # a duplicate publish
            await publisher.publish(FIRMWARE_VALIDATED, firmware_validated("validated"))
            await inbox_holds(smtp, 4)
    finally:
        await cluster.close()

    subjects = sorted((str(m["To"]), str(m["Subject"])) for m in smtp.received())
    assert subjects == [
        ("admin-1@example.com", "[INFO] Deployment dep-456 of firmware v2.1.0 completed"),
        ("admin-1@example.com", "[INFO] Firmware v2.1.0 (fw-123) validated"),
        ("admin-2@example.com", "[INFO] Deployment dep-456 of firmware v2.1.0 completed"),
        ("admin-2@example.com", "[INFO] Firmware v2.1.0 (fw-123) validated"),
    ]
    rows = await log.page(DeliveryFilter(organization_id=ORG), PageRequest.parse(None, 100))
    assert sorted((r.alert_id, r.user_id, r.status) for r in rows.items) == [
        ("deployment:dep-456:completed", "admin-1", DeliveryStatus.SENT),
        ("deployment:dep-456:completed", "admin-2", DeliveryStatus.SENT),
        ("firmware:fw-123:validated", "admin-1", DeliveryStatus.SENT),
        ("firmware:fw-123:validated", "admin-2", DeliveryStatus.SENT),
    ]
