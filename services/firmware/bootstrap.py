"""Composition root of the firmware service: the one place that picks adapters from settings.

Catalog (§3.4.1–§3.4.3, §4.5): firmware records in SQLite (data_dir/firmware.db, the default), PostgreSQL or
memory; images in the data directory (uploaded and downloaded through the gateway's /objects endpoints) or an
S3 bucket (presigned POST, S3 event notifications read from SQS). The processor consumes firmware.uploaded
(group "firmware") and, in S3 mode, the bucket's queue; with IOTMON_FIRMWARE_CLAMD_URL images are also scanned.

Rollouts (§3.4.4–6, §4.6–4.7): deployments and jobs in the same store (rollout_* tables of firmware.db, or
PostgreSQL), devices looked up on the device service (BatchGetDevices, as the firmware service), jobs sent over
the MQTT job topics when IOTMON_MQTT_URL is set, over AWS IoT Jobs when IOTMON_FIRMWARE_JOBS_CHANNEL=iot, and
otherwise left for devices to poll over HTTP; download links presigned by the catalog's object store; the
leased orchestrator as a background job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from iot.firmware.v1 import firmware_pb2, firmware_pb2_grpc
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.firmware.adapters.catalog_events import FIRMWARE_UPLOADED, BusCatalogEvents, ObjectCreatedListener
from services.firmware.adapters.catalog_memory import InMemoryFirmwareStore
from services.firmware.adapters.catalog_sqlite import SqliteFirmwareStore
from services.firmware.adapters.device_directory import GrpcDeviceDirectory
from services.firmware.adapters.object_store_fs import FilesystemObjectStore
from services.firmware.adapters.rollout_events import BusRolloutEvents
from services.firmware.adapters.rollout_links import PresignedDownloadLinks
from services.firmware.adapters.rollout_memory import InMemoryDeploymentStore
from services.firmware.adapters.rollout_sqlite import SqliteDeploymentStore
from services.firmware.domain.catalog.processing import FirmwareProcessor, ProcessingPolicy
from services.firmware.domain.catalog.service import CatalogService, UploadLimits
from services.firmware.domain.rollout.service import RolloutService
from services.firmware.orchestrator import Orchestrator
from services.firmware.ports import DeploymentStore, FirmwareStore, JobChannel, Leases, MalwareScanner, ObjectStore
from services.firmware.servicer import FirmwareServicer
from services.kernel.clock import Clock
from services.runtime.clients import open_channel
from services.runtime.server import ServiceRegistration
from services.runtime.service import BuildContext, BuiltService
from services.runtime.service_tokens import ServiceTokens
from services.runtime.signed_upload import load_signing_key, objects_dir

SERVICE_NAME = "firmware"
SQLITE_FILE = "firmware.db"
MIB = 1024 * 1024
# Where `iotmon serve firmware` assumes the gateway is when IOTMON_PUBLIC_URL is not set.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"
FIRMWARE_PREFIX = "firmware/"
# A configured (stable) MQTT client id may resume its session after a restart: the broker keeps device
# requests sent meanwhile for this long.
CONFIGURED_ID_SESSION_EXPIRY_SECONDS = 3600

BackgroundJob = Callable[[], Coroutine[Any, Any, None]]


class RolloutStore(DeploymentStore, Leases, Protocol):
    """Every deployment store keeps the orchestrator's lease too (on the same database clock)."""


class FirmwareSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_FIRMWARE_", extra="ignore")

    # sqlite keeps data_dir/firmware.db (shared with the rollout's tables); memory forgets on restart;
    # dynamodb: tables <prefix>catalog and <prefix>rollout (region and endpoint as for S3).
    store: Literal["sqlite", "postgres", "dynamodb", "memory"] = "sqlite"
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    postgres_schema: str | None = None
    dynamodb_table_prefix: str = "iotmon-firmware-"
    dynamodb_create_tables: bool = True
    # DynamoDB has no clock: a lease is taken over once the taker's clock is this far past its expiry.
    dynamodb_lease_skew_seconds: float = Field(default=1, ge=0)
    # fs: data_dir/objects behind the gateway's /objects endpoints; s3: a bucket (presigned POST).
    object_store: Literal["fs", "s3"] = "fs"
    bucket: str = "iotmon-firmware"
    region: str | None = None
    # SQS queue the bucket's "object created" notifications go to (created and configured on start).
    s3_events_queue: str = "iotmon-firmware-uploads"
    s3_events_wait_seconds: int = Field(default=10, ge=0, le=20, description="SQS long-poll wait")
    # For moto or LocalStack; botocore itself also honours AWS_ENDPOINT_URL.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("IOTMON_FIRMWARE_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    max_image_bytes: int = Field(default=64 * MIB, gt=0, description="largest image an upload target accepts")
    upload_expires_seconds: float = Field(default=900, gt=0, description="how long an upload target is valid")
    processing_stale_seconds: float = Field(
        default=600, gt=0, description="a record left `processing` this long is taken over by another delivery"
    )
    # clamd's TCP address (host:port); unset: images are not scanned.
    clamd_url: str | None = None
    clamd_timeout_seconds: float = Field(default=30, gt=0)

    # How jobs reach devices. auto: the MQTT job topics when IOTMON_MQTT_URL is set (as telemetry reads it),
    # else poll (devices ask over HTTP); iot: AWS IoT Jobs (region and endpoint as for S3).
    jobs_channel: Literal["auto", "mqtt", "iot", "poll"] = "auto"
    mqtt_url: str | None = Field(default=None, validation_alias="IOTMON_MQTT_URL")
    # The MQTT job channel (docs/device-jobs.md). The client id must be unique per process (None:
    # iotmon-firmware-jobs-<hostname>-<pid>-<random>); replicas sharing the group split device requests.
    mqtt_client_id: str | None = None
    mqtt_group: str | None = "iotmon-firmware"
    mqtt_topic_prefix: str = "devices"
    # None: 0 with the per-process default id (no session outlives the process), 3600 with a configured one.
    mqtt_session_expiry_seconds: int | None = Field(default=None, ge=0)
    iot_poll_seconds: float = Field(default=10, gt=0, description="how often IoT job executions are polled")
    # How long a job's download link is valid (a device asking again gets a new one).
    download_link_seconds: float = Field(default=86_400, gt=0)
    # The orchestrator: one replica at a time holds the lease; another takes over within lease_seconds.
    orchestrator_tick_seconds: float = Field(default=0.5, gt=0)
    orchestrator_lease_seconds: float = Field(default=5, gt=0)
    orchestrator_renew_seconds: float = Field(default=1, gt=0)


@dataclass
class Catalog:
    """What the catalog built, for the rest of the service (the rollout reads firmware and presigns downloads)."""

    store: FirmwareStore
    objects: ObjectStore
    service: CatalogService
    background: list[BackgroundJob] = field(default_factory=list)


async def build(
    ctx: BuildContext, settings: FirmwareSettings | None = None, clock: Clock | None = None
) -> BuiltService:
    settings = settings or FirmwareSettings()
    catalog = await build_catalog(ctx, settings, clock)
    rollout, orchestrator = await build_rollout(ctx, settings, catalog, clock)
    registration = ServiceRegistration(
        firmware_pb2.DESCRIPTOR.services_by_name["FirmwareService"],
        firmware_pb2_grpc.add_FirmwareServiceServicer_to_server,
        FirmwareServicer(catalog.service, rollout),
    )
    return BuiltService(SERVICE_NAME, [registration], [*catalog.background, orchestrator.run])


async def build_rollout(
    ctx: BuildContext, settings: FirmwareSettings, catalog: Catalog, clock: Clock | None = None
) -> tuple[RolloutService, Orchestrator]:
    """The RolloutService over the catalog's records and images, its job channel started, and the orchestrator
    (not yet running: its `run` is a background job)."""
    store = await _deployment_store(ctx, settings, clock)
    # Which devices exist, and their types and versions, is the platform's own data: asked as the service.
    devices = open_channel(ctx.settings.device_addr, service_tokens=ServiceTokens(ctx.settings, SERVICE_NAME))
    ctx.resources.push_async_callback(devices.close)
    channel = _job_channel(settings)
    service = RolloutService(
        store,
        catalog.store,
        GrpcDeviceDirectory(devices),
        channel,
        PresignedDownloadLinks(catalog.objects, expires_in=settings.download_link_seconds),
        BusRolloutEvents(ctx.bus),
        clock,
    )
    # Closed before the store (the stack unwinds in reverse), after the orchestrator task was cancelled.
    ctx.resources.push_async_callback(channel.close)
    await channel.start(service)
    orchestrator = Orchestrator(
        service,
        store,
        lease_ttl_seconds=settings.orchestrator_lease_seconds,
        renew_seconds=settings.orchestrator_renew_seconds,
        tick_seconds=settings.orchestrator_tick_seconds,
    )
    return service, orchestrator


async def _deployment_store(ctx: BuildContext, settings: FirmwareSettings, clock: Clock | None) -> RolloutStore:
    store: RolloutStore
    if settings.store == "memory":
        store = InMemoryDeploymentStore(clock)
    elif settings.store == "postgres":
        from services.firmware.adapters.rollout_postgres import PostgresDeploymentStore

        store = await PostgresDeploymentStore.open(settings.postgres_dsn, schema=settings.postgres_schema)
    elif settings.store == "dynamodb":
        from services.firmware.adapters.rollout_dynamodb import DynamoDbDeploymentStore
        from services.runtime.dynamodb import open_dynamodb

        client = await open_dynamodb(ctx.resources, endpoint_url=settings.aws_endpoint_url, region=settings.region)
        dynamodb = DynamoDbDeploymentStore(
            client,
            f"{settings.dynamodb_table_prefix}rollout",
            clock=clock,
            skew_tolerance_seconds=settings.dynamodb_lease_skew_seconds,
        )
        if settings.dynamodb_create_tables:
            await dynamodb.ensure_table()
        store = dynamodb
    else:
        store = SqliteDeploymentStore(ctx.settings.data_dir / SQLITE_FILE)
    ctx.resources.push_async_callback(store.close)
    return store


def _job_channel(settings: FirmwareSettings) -> JobChannel:
    kind = settings.jobs_channel
    if kind == "auto":
        kind = "mqtt" if settings.mqtt_url else "poll"
    if kind == "mqtt":
        if not settings.mqtt_url:
            raise ValueError("IOTMON_FIRMWARE_JOBS_CHANNEL=mqtt needs IOTMON_MQTT_URL")
        from services.firmware.adapters.jobs_mqtt import MqttJobChannel
        from services.firmware.adapters.jobs_mqtt_config import MqttJobOptions, default_client_id

        expiry = settings.mqtt_session_expiry_seconds
        if expiry is None:
            expiry = CONFIGURED_ID_SESSION_EXPIRY_SECONDS if settings.mqtt_client_id else 0
        options = MqttJobOptions(
            client_id=settings.mqtt_client_id or default_client_id(),
            group=settings.mqtt_group or None,
            topic_prefix=settings.mqtt_topic_prefix,
            session_expiry_seconds=expiry,
        )
        return MqttJobChannel(settings.mqtt_url, options)
    if kind == "iot":
        # Imported here: aioboto3 is the optional `aws` extra.
        from services.firmware.adapters.jobs_iot import IotJobsChannel

        return IotJobsChannel(
            region=settings.region,
            endpoint_url=settings.aws_endpoint_url,
            poll_interval_seconds=settings.iot_poll_seconds,
        )
    from services.firmware.adapters.jobs_poll import PollOnlyJobChannel

    return PollOnlyJobChannel()


async def build_catalog(ctx: BuildContext, settings: FirmwareSettings, clock: Clock | None = None) -> Catalog:
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await _store(ctx, settings)
    objects = await _objects(ctx, settings)
    limits = UploadLimits(settings.max_image_bytes, settings.upload_expires_seconds)
    catalog = Catalog(store, objects, CatalogService(store, objects, limits, clock))
    processor = FirmwareProcessor(
        store,
        catalog.objects,
        BusCatalogEvents(ctx.bus),
        ProcessingPolicy(settings.max_image_bytes, stale_after=timedelta(seconds=settings.processing_stale_seconds)),
        scanner=_scanner(settings),
        clock=clock,
    )
    listener = ObjectCreatedListener(processor)
    # The gateway's upload endpoint announces every stored upload on the bus.
    ctx.bus.subscribe(FIRMWARE_UPLOADED, listener.on_uploaded, group=SERVICE_NAME)
    if settings.object_store == "s3":
        catalog.background.append(await _s3_events(ctx, settings, listener))
    return catalog


async def _store(ctx: BuildContext, settings: FirmwareSettings) -> FirmwareStore:
    store: FirmwareStore
    if settings.store == "memory":
        store = InMemoryFirmwareStore()
    elif settings.store == "postgres":
        from services.firmware.adapters.catalog_postgres import PostgresFirmwareStore

        store = await PostgresFirmwareStore.open(settings.postgres_dsn, schema=settings.postgres_schema)
    elif settings.store == "dynamodb":
        from services.firmware.adapters.catalog_dynamodb import DynamoDbFirmwareStore
        from services.runtime.dynamodb import open_dynamodb

        client = await open_dynamodb(ctx.resources, endpoint_url=settings.aws_endpoint_url, region=settings.region)
        catalog = DynamoDbFirmwareStore(client, f"{settings.dynamodb_table_prefix}catalog")
        if settings.dynamodb_create_tables:
            await catalog.ensure_table()
        store = catalog
    else:
        store = SqliteFirmwareStore(ctx.settings.data_dir / SQLITE_FILE)
    ctx.resources.push_async_callback(store.close)
    return store


async def _objects(ctx: BuildContext, settings: FirmwareSettings) -> ObjectStore:
    if settings.object_store == "s3":
        # Imported here: aioboto3 is the optional `aws` extra, absent from embedded-only installs.
        import aioboto3

        from services.firmware.adapters.object_store_s3 import S3ObjectStore

        client = await ctx.resources.enter_async_context(
            aioboto3.Session().client("s3", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
        )
        s3 = S3ObjectStore(client, settings.bucket)
        await s3.ensure_bucket()
        return s3
    secret = await asyncio.to_thread(load_signing_key, ctx.settings)
    return FilesystemObjectStore(objects_dir(ctx.settings), ctx.settings.public_url or DEFAULT_PUBLIC_URL, secret)


def _scanner(settings: FirmwareSettings) -> MalwareScanner | None:
    if not settings.clamd_url:
        return None
    from services.firmware.adapters.clamd import ClamdScanner

    return ClamdScanner(settings.clamd_url, timeout=settings.clamd_timeout_seconds)


async def _s3_events(ctx: BuildContext, settings: FirmwareSettings, listener: ObjectCreatedListener) -> BackgroundJob:
    import aioboto3

    from services.firmware.adapters.s3_events import S3EventQueue, configure_notifications

    session = aioboto3.Session()
    endpoint, region = settings.aws_endpoint_url, settings.region
    s3 = await ctx.resources.enter_async_context(session.client("s3", region_name=region, endpoint_url=endpoint))
    sqs = await ctx.resources.enter_async_context(session.client("sqs", region_name=region, endpoint_url=endpoint))
    queue_url = await configure_notifications(s3, sqs, settings.bucket, settings.s3_events_queue, FIRMWARE_PREFIX)
    queue = S3EventQueue(sqs, queue_url, listener.on_object_created, wait_seconds=settings.s3_events_wait_seconds)
    return queue.run
