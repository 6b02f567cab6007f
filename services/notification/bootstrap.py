"""Composition root of the notification service: the one place that picks adapters from settings.

Embedded defaults (`iotmon up` on a bare machine): the delivery log in SQLite (data_dir/notification.db;
PostgreSQL or DynamoDB with IOTMON_NOTIFICATION_STORE) and every channel to the outbox (the rendered message
is kept in the log). IOTMON_SMTP_URL sends email over SMTP; IOTMON_NOTIFICATION_EMAIL_BACKEND=ses,
_PUSH_BACKEND=fcm and _SMS_BACKEND=sns pick the cloud channels. Webhooks always go over HTTP. Users come from
the identity service over gRPC, as the notification service.
"""

from __future__ import annotations

import logging
import secrets
import socket
from pathlib import Path
from typing import Literal

import httpx
from iot.notification.v1 import notification_pb2_grpc
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notification.adapters.bus_events import BusDeliveryEvents, subscribe_to_alerts
from services.notification.adapters.delivery_log_memory import InMemoryDeliveryLog
from services.notification.adapters.delivery_log_sqlite import SqliteDeliveryLog
from services.notification.adapters.firmware_events import subscribe_to_firmware
from services.notification.adapters.outbox import OutboxEmailSender, OutboxPushSender, OutboxSmsSender
from services.notification.adapters.templates import JinjaRenderer
from services.notification.adapters.usage_events import subscribe_to_usage
from services.notification.adapters.user_directory import GrpcUserDirectory
from services.notification.adapters.webhook_http import HttpWebhookSender
from services.notification.domain.dispatcher import DispatchSettings, NotificationDispatcher
from services.notification.domain.service import DeliveryQueries
from services.notification.ports import DeliveryLog, EmailSender, PushSender, Senders, SmsSender
from services.notification.servicer import NotificationServicer
from services.runtime.clients import open_channel
from services.runtime.contract import service_descriptor
from services.runtime.server import ServiceRegistration
from services.runtime.service import BuildContext, BuiltService
from services.runtime.service_tokens import ServiceTokens

log = logging.getLogger("iotmon.notification")

SERVICE_NAME = "notification"
LOG_FILE = "notification.db"
WEBHOOK_SECRET_FILE = "notification-webhook.secret"


class NotificationSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_NOTIFICATION_", extra="ignore", populate_by_name=True)

    # The delivery log.
    store: Literal["sqlite", "postgres", "dynamodb", "memory"] = "sqlite"
    # DynamoDB: the table (created when missing unless infrastructure owns it) and its region.
    dynamodb_table: str = "iotmon-notification-deliveries"
    dynamodb_create_table: bool = True
    aws_region: str | None = None
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    postgres_schema: str | None = None
    # Email: None picks smtp when IOTMON_SMTP_URL is set, else the outbox.
    email_backend: Literal["smtp", "ses", "outbox"] | None = None
    # The contract names this one without NOTIFICATION_.
    smtp_url: str | None = Field(
        default=None, validation_alias=AliasChoices("IOTMON_SMTP_URL", "IOTMON_NOTIFICATION_SMTP_URL")
    )
    smtp_timeout_seconds: float = Field(default=10, gt=0)
    email_from: str = "iotmon alerts <alerts@iotmon.local>"
    push_backend: Literal["fcm", "outbox"] = "outbox"
    fcm_credentials_file: Path | None = None
    fcm_base_url: str = "https://fcm.googleapis.com"
    sms_backend: Literal["sns", "outbox"] = "outbox"
    # Shown as the sender where carriers allow it (not in the US).
    sms_sender_id: str | None = None
    # For moto or LocalStack; botocore itself also honours AWS_ENDPOINT_URL.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("IOTMON_NOTIFICATION_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    # Webhooks: the HMAC key (None: one generated once and kept in data_dir), retries and backoff.
    webhook_secret: SecretStr | None = None
    webhook_max_attempts: int = Field(default=4, ge=1, le=10)
    webhook_backoff_seconds: float = Field(default=0.5, ge=0)
    webhook_timeout_seconds: float = Field(default=5, gt=0)
    # Where the links in messages point (the dashboard in front of the gateway).
    console_url: str = "http://127.0.0.1:8080"
    # Stable per replica and across its restarts (None: notification-<hostname>), see docs/notifications.md.
    worker_id: str | None = None
    lease_seconds: float = Field(default=60, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    concurrency: int = Field(default=32, ge=1)
    user_cache_seconds: float = Field(default=30, ge=0)


async def build(ctx: BuildContext, settings: NotificationSettings | None = None) -> BuiltService:
    settings = settings or NotificationSettings()
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    deliveries = await _delivery_log(ctx, settings)
    channel = open_channel(ctx.settings.identity_addr, service_tokens=ServiceTokens(ctx.settings, SERVICE_NAME))
    ctx.resources.push_async_callback(channel.close)
    directory = GrpcUserDirectory(channel, ttl_seconds=settings.user_cache_seconds)
    # Every replica keeps its own cache, so every replica hears of every user change.
    ctx.bus.subscribe("identity.#", directory.on_user_event, group=None)
    dispatcher = NotificationDispatcher(
        directory,
        deliveries,
        JinjaRenderer(settings.console_url),
        await _senders(ctx, settings),
        BusDeliveryEvents(ctx.bus),
        DispatchSettings(
            owner=settings.worker_id or f"notification-{socket.gethostname()}",
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
            concurrency=settings.concurrency,
        ),
    )
    subscribe_to_alerts(ctx.bus, dispatcher.dispatch)
    # Firmware processed and rollouts finished or stopped: told to admins (docs/notifications.md).
    subscribe_to_firmware(ctx.bus, dispatcher.notify_admins)
    # The monthly usage report (§6.4): emailed to the organization's admins (docs/jobs.md).
    subscribe_to_usage(ctx.bus, dispatcher.notify_admins)
    registration = ServiceRegistration(
        service_descriptor(SERVICE_NAME),
        notification_pb2_grpc.add_NotificationServiceServicer_to_server,
        NotificationServicer(DeliveryQueries(deliveries)),
    )
    return BuiltService(SERVICE_NAME, [registration])


async def _delivery_log(ctx: BuildContext, settings: NotificationSettings) -> DeliveryLog:
    deliveries: DeliveryLog
    if settings.store == "memory":
        deliveries = InMemoryDeliveryLog()
    elif settings.store == "postgres":
        from services.notification.adapters.delivery_log_postgres import PostgresDeliveryLog

        deliveries = await PostgresDeliveryLog.open(settings.postgres_dsn, schema=settings.postgres_schema)
    elif settings.store == "dynamodb":
        from services.notification.adapters.delivery_log_dynamodb import DynamoDbDeliveryLog
        from services.runtime.dynamodb import open_dynamodb

        client = await open_dynamodb(ctx.resources, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)
        dynamodb = DynamoDbDeliveryLog(client, settings.dynamodb_table)
        if settings.dynamodb_create_table:
            await dynamodb.ensure_table()
        deliveries = dynamodb
    else:
        deliveries = SqliteDeliveryLog(ctx.settings.data_dir / LOG_FILE)
    ctx.resources.push_async_callback(deliveries.close)
    return deliveries


async def _senders(ctx: BuildContext, settings: NotificationSettings) -> Senders:
    http = await ctx.resources.enter_async_context(httpx.AsyncClient(follow_redirects=False))
    webhook = HttpWebhookSender(
        http,
        _webhook_secret(ctx.settings.data_dir, settings),
        max_attempts=settings.webhook_max_attempts,
        backoff_seconds=settings.webhook_backoff_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
    )
    return Senders(
        email=await _email_sender(ctx, settings),
        push=await _push_sender(ctx, settings, http),
        sms=await _sms_sender(ctx, settings),
        webhook=webhook,
    )


async def _email_sender(ctx: BuildContext, settings: NotificationSettings) -> EmailSender:
    backend = settings.email_backend or ("smtp" if settings.smtp_url else "outbox")
    if backend == "smtp":
        from services.notification.adapters.email_smtp import SmtpEmailSender, SmtpServer

        if not settings.smtp_url:
            raise ValueError("email_backend=smtp needs IOTMON_SMTP_URL (smtp://host:port)")
        server = SmtpServer.from_url(settings.smtp_url)
        log.info("email over SMTP", extra={"host": server.host, "port": server.port})
        smtp = SmtpEmailSender(server, settings.email_from, timeout_seconds=settings.smtp_timeout_seconds)
        ctx.resources.push_async_callback(smtp.close)
        return smtp
    if backend == "ses":
        return await _ses_sender(ctx, settings)
    return OutboxEmailSender()


async def _ses_sender(ctx: BuildContext, settings: NotificationSettings) -> EmailSender:
    # Imported here: aioboto3 is the optional `aws` extra, absent from embedded-only installs.
    import aioboto3

    from services.notification.adapters.email_ses import SesEmailSender

    client = await ctx.resources.enter_async_context(
        aioboto3.Session().client("ses", endpoint_url=settings.aws_endpoint_url)
    )
    ses = SesEmailSender(client, settings.email_from)
    if not await ses.check_sender():
        # Not fatal (the identity may be verified a moment later), but every email would be refused until then.
        log.warning("the SES sender is not a verified identity", extra={"sender": settings.email_from})
    return ses


async def _push_sender(ctx: BuildContext, settings: NotificationSettings, http: httpx.AsyncClient) -> PushSender:
    if settings.push_backend == "fcm":
        from services.notification.adapters.push_fcm import FcmPushSender, ServiceAccount

        if settings.fcm_credentials_file is None:
            raise ValueError("push_backend=fcm needs IOTMON_NOTIFICATION_FCM_CREDENTIALS_FILE (service account JSON)")
        account = ServiceAccount.from_file(settings.fcm_credentials_file)
        return FcmPushSender(http, account, base_url=settings.fcm_base_url)
    return OutboxPushSender()


async def _sms_sender(ctx: BuildContext, settings: NotificationSettings) -> SmsSender:
    if settings.sms_backend == "sns":
        import aioboto3

        from services.notification.adapters.sms_sns import SnsSmsSender

        client = await ctx.resources.enter_async_context(
            aioboto3.Session().client("sns", endpoint_url=settings.aws_endpoint_url)
        )
        return SnsSmsSender(client, settings.sms_sender_id)
    return OutboxSmsSender()


def _webhook_secret(data_dir: Path, settings: NotificationSettings) -> bytes:
    """The configured secret, or one generated on first start and kept in the data directory (0600)."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value().encode()
    path = data_dir / WEBHOOK_SECRET_FILE
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
        log.info("webhook signing secret generated", extra={"path": str(path)})
    return path.read_text().strip().encode()
