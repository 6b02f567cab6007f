"""Composition root of the alerting service: the one place that picks adapters from settings.

Store: SQLite in data_dir (the default), PostgreSQL (asyncpg), DynamoDB (aioboto3) or memory. Peers: telemetry
over gRPC for device types (as the alerting service itself), identity for the names of people acting on alerts
(as the caller).
Background: the daily cleanup of old resolved alerts (§6.2) and, through the hook below, the evaluator.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Literal

from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.alerting.adapters.bus_events import NOTIFICATION_DELIVERED, BusAlertingEvents, DeliveryListener
from services.alerting.adapters.device_types_client import GrpcDeviceTypes
from services.alerting.adapters.firmware_consumer import subscribe_to_deployments
from services.alerting.adapters.memory import InMemoryAlertingStore
from services.alerting.adapters.sqlite import SqliteAlertingStore
from services.alerting.adapters.users_client import GrpcUserNames
from services.alerting.cleanup import ResolvedAlertsArchive, ResolvedAlertsCleanup
from services.alerting.domain.service import AlertingService
from services.alerting.domain.summary import AlertSummaries
from services.alerting.ports import AlertingStore
from services.alerting.servicer import AlertingServicer
from services.kernel.clock import Clock
from services.runtime.clients import open_channel
from services.runtime.objects import ObjectStoreSettings, open_object_store
from services.runtime.server import ServiceRegistration
from services.runtime.service import BuildContext, BuiltService
from services.runtime.service_tokens import ServiceTokens

SERVICE_NAME = "alerting"
SQLITE_FILE = "alerting.db"
DAY_SECONDS = 86_400.0

BackgroundJob = Callable[[], Coroutine[Any, Any, None]]


class AlertingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_ALERTING_", extra="ignore", populate_by_name=True)

    # sqlite keeps data_dir/alerting.db; memory forgets everything on restart (tests, demos).
    store: Literal["sqlite", "postgres", "dynamodb", "memory"] = "sqlite"
    # DynamoDB: tables <prefix>rules and <prefix>alerts, created when missing unless infrastructure owns them.
    dynamodb_table_prefix: str = "iotmon-alerting-"
    dynamodb_create_tables: bool = True
    aws_region: str | None = None
    # For moto or LocalStack; None: the region's AWS endpoint.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("IOTMON_ALERTING_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    # PostgreSQL schema of the tables (created when missing); None: the search path.
    postgres_schema: str | None = None
    cleanup_after_days: float = Field(
        default=90, gt=0, description="resolved alerts older than this are archived, then deleted"
    )
    cleanup_interval_seconds: float = Field(default=DAY_SECONDS, gt=0, description="how often the cleanup runs")
    device_type_cache_seconds: float = Field(default=30, ge=0, description="how long a device type's metrics are kept")


async def build(
    ctx: BuildContext, settings: AlertingSettings | None = None, clock: Clock | None = None
) -> BuiltService:
    settings = settings or AlertingSettings()
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await _store(ctx, settings)
    # Device types are the platform's own data: asked as the alerting service.
    telemetry = open_channel(ctx.settings.telemetry_addr, service_tokens=ServiceTokens(ctx.settings, SERVICE_NAME))
    ctx.resources.push_async_callback(telemetry.close)
    # A user's name is theirs to read: asked with the caller's own token.
    identity = open_channel(ctx.settings.identity_addr)
    ctx.resources.push_async_callback(identity.close)
    service = AlertingService(
        store=store,
        device_types=GrpcDeviceTypes(telemetry, cache_seconds=settings.device_type_cache_seconds),
        users=GrpcUserNames(identity),
        events=BusAlertingEvents(ctx.bus),
        clock=clock,
    )
    ctx.bus.subscribe(NOTIFICATION_DELIVERED, DeliveryListener(service).on_delivered, group=SERVICE_NAME)
    # A halted firmware deployment is an alert of its own (domain/system_alerts.py).
    subscribe_to_deployments(ctx.bus, service.raise_deployment_halted)
    # §6.2: archived to the shared object store (IOTMON_OBJECTS_*), then deleted (cleanup.py, docs/jobs.md).
    objects = await open_object_store(ctx.settings, ObjectStoreSettings(), ctx.resources)
    archive = ResolvedAlertsArchive(store, objects, settings.cleanup_after_days)
    cleanup = ResolvedAlertsCleanup(archive, settings.cleanup_interval_seconds)
    registration = ServiceRegistration(
        alerting_pb2.DESCRIPTOR.services_by_name["AlertingService"],
        alerting_pb2_grpc.add_AlertingServiceServicer_to_server,
        AlertingServicer(service, summaries=AlertSummaries(store), archive=archive),
    )
    background: list[BackgroundJob] = [cleanup.run, *await _evaluator_jobs(ctx, service)]
    return BuiltService(SERVICE_NAME, [registration], background)


async def _evaluator_jobs(ctx: BuildContext, service: AlertingService) -> list[BackgroundJob]:
    """The streaming evaluator (services/alerting/evaluator.py) raises through the service's use case."""
    from services.alerting.evaluator import build_evaluator

    return await build_evaluator(ctx, service.raise_alert, service.rules_for_evaluation)


async def _store(ctx: BuildContext, settings: AlertingSettings) -> AlertingStore:
    store: AlertingStore
    if settings.store == "memory":
        store = InMemoryAlertingStore()
    elif settings.store == "postgres":
        from services.alerting.adapters.postgres import PostgresAlertingStore

        store = await PostgresAlertingStore.open(settings.postgres_dsn, schema=settings.postgres_schema)
    elif settings.store == "dynamodb":
        from services.alerting.adapters.dynamodb import DynamoDbAlertingStore
        from services.runtime.dynamodb import open_dynamodb

        client = await open_dynamodb(ctx.resources, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)
        dynamodb = DynamoDbAlertingStore(client, settings.dynamodb_table_prefix)
        if settings.dynamodb_create_tables:
            await dynamodb.ensure_tables()
        store = dynamodb
    else:
        store = SqliteAlertingStore(ctx.settings.data_dir / SQLITE_FILE)
    ctx.resources.push_async_callback(store.close)
    return store
