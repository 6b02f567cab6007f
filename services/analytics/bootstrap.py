"""Composition root of the analytics service: the one place that picks adapters from settings.

Built (issue #7, first slice): the dashboard (§3.5.1) from counters kept from bus events (group "analytics")
and reconciled with the device, alerting and telemetry services; the sensor-data query (§3.5.2) computed by
telemetry's time-series store; reports (§3.5.3) and exports (§3.5.4) as jobs on the bus (groups
"analytics-reports" and "analytics-exports"), built into the shared object store; monthly usage (§6.4) counted
from the bus (group "analytics-usage") and reported by the usage-report job.
Store: SQLite in data_dir (default), PostgreSQL (asyncpg) or memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Literal

from iot.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.analytics.adapters.consumers import subscribe
from services.analytics.adapters.job_events import BusJobQueue, subscribe_workers
from services.analytics.adapters.jobs_memory import InMemoryJobStore
from services.analytics.adapters.jobs_sqlite import SqliteJobStore
from services.analytics.adapters.peers import GrpcAlertCensus, GrpcDeviceCensus, GrpcDeviceOwnership, GrpcTelemetry
from services.analytics.adapters.reading_stream import GrpcReadingStream
from services.analytics.adapters.report_render import ReportRenderer
from services.analytics.adapters.report_sources import GrpcReportSources
from services.analytics.adapters.store_memory import InMemoryCounterStore
from services.analytics.adapters.store_sqlite import SqliteCounterStore
from services.analytics.adapters.usage_events import BusUsageEvents, subscribe_usage
from services.analytics.adapters.usage_memory import InMemoryUsageStore
from services.analytics.adapters.usage_sqlite import SqliteUsageStore
from services.analytics.domain.jobs_service import ReportsAndExports
from services.analytics.domain.reconcile import Reconciler
from services.analytics.domain.service import AnalyticsService
from services.analytics.domain.usage_service import UsageReports
from services.analytics.ports import CounterStore, JobStore
from services.analytics.servicer import AnalyticsServicer
from services.analytics.usage_ports import UsageStore
from services.analytics.usage_settings import UsagePriceSettings
from services.runtime.clients import open_channel
from services.runtime.objects import ObjectStoreSettings, open_object_store
from services.runtime.server import ServiceRegistration
from services.runtime.service import BuildContext, BuiltService
from services.runtime.service_tokens import ServiceTokens

log = logging.getLogger("iotmon.analytics")

SERVICE_NAME = "analytics"
SQLITE_FILE = "analytics.db"
DAY_MS = 86_400_000


class AnalyticsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_ANALYTICS_", extra="ignore")

    # sqlite keeps data_dir/analytics.db; memory forgets everything on restart (tests, demos); dynamodb: the
    # counters, the report/export jobs and usage in tables <prefix>counters, <prefix>jobs and <prefix>usage.
    store: Literal["sqlite", "postgres", "dynamodb", "memory"] = "sqlite"
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    postgres_schema: str | None = None
    dynamodb_table_prefix: str = "iotmon-analytics-"
    dynamodb_create_tables: bool = True
    aws_region: str | None = None
    # For moto or LocalStack; None: the region's AWS endpoint.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("IOTMON_ANALYTICS_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    reconcile_interval_seconds: float = Field(
        default=3600, ge=0, description="an organization's counters are reconciled when older than this on a read"
    )
    reconcile_timeout_seconds: float = Field(
        default=10, gt=0, description="how long the first dashboard read of an organization waits for its counts"
    )
    event_ids_kept_days: float = Field(default=7, gt=0, description="readings events are de-duplicated this long")
    # Reports and exports (docs/analytics.md): files go to the shared object store (IOTMON_OBJECTS_*).
    workers: bool = Field(default=True, description="build reports and exports in this process (bus consumers)")
    job_lease_seconds: float = Field(default=120, gt=0, description="a worker silent this long loses its job")
    job_sweep_seconds: float = Field(default=30, gt=0, description="how often stale and orphaned jobs are looked for")
    download_url_expires_seconds: float = Field(default=3600, gt=0, description="life of a download link")


async def build(ctx: BuildContext, settings: AnalyticsSettings | None = None) -> BuiltService:
    settings = settings or AnalyticsSettings()
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await _store(ctx, settings)
    tokens = ServiceTokens(ctx.settings, SERVICE_NAME)
    devices = open_channel(ctx.settings.device_addr, service_tokens=tokens)
    telemetry = open_channel(ctx.settings.telemetry_addr, service_tokens=tokens)
    # The alerting service lists an organization's alerts to its users only: asked with the reader's token.
    alerting = open_channel(ctx.settings.alerting_addr)
    for channel in (devices, telemetry, alerting):
        ctx.resources.push_async_callback(channel.close)
    telemetry_client = GrpcTelemetry(telemetry)
    service = AnalyticsService(
        store=store,
        reconciler=Reconciler(store, GrpcDeviceCensus(devices), GrpcAlertCensus(alerting), telemetry_client),
        ownership=GrpcDeviceOwnership(devices),
        series=telemetry_client,
        now_ms=lambda: time.time_ns() // 1_000_000,
        reconcile_every_ms=int(settings.reconcile_interval_seconds * 1000),
        reconcile_timeout_s=settings.reconcile_timeout_seconds,
    )
    ctx.resources.push_async_callback(service.wait_reconciled)
    subscribe(ctx.bus, service)
    # Reports read alerts with the service's own token (the internal SummarizeAlerts), unlike the dashboard.
    alerting_internal = open_channel(ctx.settings.alerting_addr, service_tokens=tokens)
    ctx.resources.push_async_callback(alerting_internal.close)
    jobs = ReportsAndExports(
        jobs=await _job_store(ctx, settings),
        queue=BusJobQueue(ctx.bus),
        files=await open_object_store(ctx.settings, ObjectStoreSettings(), ctx.resources),
        ownership=GrpcDeviceOwnership(devices),
        sources=GrpcReportSources(devices, telemetry, alerting_internal),
        readings=GrpcReadingStream(telemetry, tokens),
        renderer=ReportRenderer(),
        now_ms=lambda: time.time_ns() // 1_000_000,
        lease_ms=int(settings.job_lease_seconds * 1000),
        download_expires_s=settings.download_url_expires_seconds,
    )
    usage = await _usage(ctx, settings)  # §6.4, docs/jobs.md
    registration = ServiceRegistration(
        analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"],
        analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
        AnalyticsServicer(service, jobs=jobs, usage=usage),
    )

    async def forget_old_event_ids() -> None:
        while True:
            try:
                cutoff = time.time_ns() // 1_000_000 - int(settings.event_ids_kept_days * DAY_MS)
                await store.forget_events_before(cutoff)
                await usage.forget_events_before(cutoff)
            except Exception:
                log.exception("forgetting old event ids failed")
            await asyncio.sleep(3600)

    async def sweep_jobs() -> None:
        while True:
            await asyncio.sleep(settings.job_sweep_seconds)
            try:
                await jobs.recover()
            except Exception:
                log.exception("recovering stale report and export jobs failed")

    background = [forget_old_event_ids]
    if settings.workers:
        subscribe_workers(ctx.bus, jobs)
        background.append(sweep_jobs)
    return BuiltService(SERVICE_NAME, [registration], background)


async def _usage(ctx: BuildContext, settings: AnalyticsSettings) -> UsageReports:
    """Usage counted from the bus into its store (beside the counters), reported monthly by the job."""
    usage_store: UsageStore
    if settings.store == "memory":
        usage_store = InMemoryUsageStore()
    elif settings.store == "postgres":
        from services.analytics.adapters.usage_postgres import PostgresUsageStore

        usage_store = await PostgresUsageStore.open(settings.postgres_dsn, schema=settings.postgres_schema)
    elif settings.store == "dynamodb":
        from services.analytics.adapters.usage_dynamodb import DynamoDbUsageStore
        from services.runtime.dynamodb import open_dynamodb

        client = await open_dynamodb(ctx.resources, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)
        dynamodb_usage = DynamoDbUsageStore(client, f"{settings.dynamodb_table_prefix}usage")
        if settings.dynamodb_create_tables:
            await dynamodb_usage.ensure_table()
        usage_store = dynamodb_usage
    else:
        usage_store = SqliteUsageStore(ctx.settings.data_dir / SQLITE_FILE)
    ctx.resources.push_async_callback(usage_store.close)
    usage = UsageReports(
        usage_store, BusUsageEvents(ctx.bus), UsagePriceSettings().prices(), lambda: time.time_ns() // 1_000_000
    )
    subscribe_usage(ctx.bus, usage)
    return usage


async def _job_store(ctx: BuildContext, settings: AnalyticsSettings) -> JobStore:
    jobs: JobStore
    if settings.store == "memory":
        jobs = InMemoryJobStore()
    elif settings.store == "postgres":
        from services.analytics.adapters.jobs_postgres import PostgresJobStore

        jobs = await PostgresJobStore.open(settings.postgres_dsn, schema=settings.postgres_schema)
    elif settings.store == "dynamodb":
        from services.analytics.adapters.jobs_dynamodb import DynamoDbJobStore
        from services.runtime.dynamodb import open_dynamodb

        client = await open_dynamodb(ctx.resources, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)
        dynamodb_jobs = DynamoDbJobStore(client, f"{settings.dynamodb_table_prefix}jobs")
        if settings.dynamodb_create_tables:
            await dynamodb_jobs.ensure_table()
        jobs = dynamodb_jobs
    else:
        jobs = SqliteJobStore(ctx.settings.data_dir / SQLITE_FILE)
    ctx.resources.push_async_callback(jobs.close)
    return jobs


async def _store(ctx: BuildContext, settings: AnalyticsSettings) -> CounterStore:
    store: CounterStore
    if settings.store == "memory":
        store = InMemoryCounterStore()
    elif settings.store == "postgres":
        from services.analytics.adapters.store_postgres import PostgresCounterStore

        store = await PostgresCounterStore.open(settings.postgres_dsn, schema=settings.postgres_schema)
    elif settings.store == "dynamodb":
        from services.analytics.adapters.store_dynamodb import DynamoDbCounterStore
        from services.runtime.dynamodb import open_dynamodb

        client = await open_dynamodb(ctx.resources, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)
        counters = DynamoDbCounterStore(client, f"{settings.dynamodb_table_prefix}counters")
        if settings.dynamodb_create_tables:
            await counters.ensure_table()
        store = counters
    else:
        store = SqliteCounterStore(ctx.settings.data_dir / SQLITE_FILE)
    ctx.resources.push_async_callback(store.close)
    return store
