"""Composition root of the telemetry service: the one place that picks adapters from settings.

Time series: embedded (data_dir, the default), postgres (asyncpg; also TimescaleDB) or memory. Dead letters:
SQLite in data_dir, PostgreSQL or memory (by default the same kind as the time series). Devices: the device
service over gRPC, as the telemetry service itself. Sources besides HTTP/gRPC: an MQTT subscription when
IOTMON_MQTT_URL is set, a Kinesis consumer when IOTMON_KINESIS_STREAM is set, each a background job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

import orjson
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.clients import open_channel
from services.runtime.objects import ObjectStoreSettings, open_object_store
from services.runtime.otel.hooks import IngestCounts, observe_ingest
from services.runtime.server import ServiceRegistration
from services.runtime.service import BuildContext, BuiltService
from services.runtime.service_tokens import ServiceTokens
from services.telemetry.adapters.bus_events import BusTelemetryEvents
from services.telemetry.adapters.dead_letters_memory import InMemoryDeadLetterStore
from services.telemetry.adapters.dead_letters_sqlite import SqliteDeadLetterStore
from services.telemetry.adapters.device_activity import GrpcDeviceActivitySink
from services.telemetry.adapters.device_directory import GrpcDeviceDirectory
from services.telemetry.adapters.device_types_file import load_device_types
from services.telemetry.adapters.timeseries_memory import InMemoryTimeSeriesStore
from services.telemetry.archival import ReadingsArchival
from services.telemetry.domain.aggregates import StoreAggregates
from services.telemetry.domain.anomalies import AnomalyDetector, DetectorSettings
from services.telemetry.domain.exports import StoreExports
from services.telemetry.domain.pipeline import TelemetryPipeline
from services.telemetry.domain.service import TelemetryService
from services.telemetry.domain.stats import IngestStats
from services.telemetry.domain.validation import DAY_MS, Limits
from services.telemetry.ports import DeadLetterStore, Ingest, TelemetrySource, TimeSeriesStore
from services.telemetry.servicer import TelemetryServicer

log = logging.getLogger("iotmon.telemetry")

SERVICE_NAME = "telemetry"
MQTT_BATCH_SIZE = 500
KINESIS_BATCH_SIZE = 100
DLQ_FILE = "telemetry-dlq.db"


class TelemetrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_TELEMETRY_", extra="ignore", populate_by_name=True)

    store: Literal["embedded", "postgres", "memory"] = "embedded"
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    # PostgreSQL schema of the time-series and dead-letter tables (created when missing); None: the search path.
    postgres_schema: str | None = None
    # Dead letters: None follows the store (postgres → postgres, memory → memory, embedded → sqlite).
    dlq: Literal["sqlite", "postgres", "dynamodb", "memory"] | None = None
    dlq_dynamodb_table: str = "iotmon-telemetry-dead-letters"
    # Creates the table when missing: handy locally, off where infrastructure code owns the table.
    dlq_dynamodb_create_table: bool = True
    # DynamoDB dead letters; None: botocore's own resolution (AWS_ENDPOINT_URL, AWS_REGION).
    aws_endpoint_url: str | None = None
    aws_region: str | None = None
    future_skew_seconds: float = Field(default=300, ge=0, description="how far ahead of the clock a timestamp may be")
    retention_days: float = Field(default=90, gt=0, description="older timestamps are refused (TIMESTAMP_TOO_OLD)")
    anomaly_threshold: float = Field(default=4.0, gt=0, description="z-score above which a value is anomalous")
    anomaly_alpha: float = Field(default=0.05, gt=0, le=1, description="EWMA weight of a new value")
    anomaly_warmup: int = Field(default=20, ge=1, description="values a metric needs before it can be flagged")
    anomaly_max_devices: int = Field(default=100_000, ge=1, description="devices whose statistics stay in memory")
    device_types_file: Path | None = None
    device_cache_seconds: float = Field(default=30, ge=0, description="how long a found device is cached")
    unknown_device_cache_seconds: float = Field(default=5, ge=0, description="how long an unknown id is cached")
    # Under load, device lastSeen/lastReading are sent at most this often (docs/telemetry.md, device activity).
    activity_interval_seconds: float = Field(default=2.0, ge=0)
    # Sources (MQTT, Kinesis): records per batch, and how long a partial batch may wait for more. None: 500 for
    # MQTT (a batch costs the pipeline and every event consumer a round of transactions: bench/ingest.py
    # stored ≈ 12,400-13,900 msg/s at 500 against ≈ 6,600-7,500 at 100), 100 for Kinesis (§4.1).
    batch_size: int | None = Field(default=None, ge=1)
    batch_linger_seconds: float = Field(default=0.05, ge=0)
    stats_interval_seconds: float = Field(default=60, gt=0, description="how often the ingest counters are logged")
    # The contract names these two without TELEMETRY_.
    mqtt_url: str | None = Field(default=None, validation_alias="IOTMON_MQTT_URL")
    kinesis_stream: str | None = Field(default=None, validation_alias="IOTMON_KINESIS_STREAM")
    # MQTT source (docs/telemetry_sources.md). The client id must be stable per replica and unique per
    # process (None: iotmon-telemetry-<hostname>); replicas sharing the group split the messages.
    mqtt_client_id: str | None = None
    mqtt_group: str | None = "iotmon-telemetry"
    mqtt_topic_prefix: str = "devices"
    mqtt_receive_maximum: int = Field(default=10_000, ge=1, le=65_535)
    mqtt_session_expiry_seconds: int = Field(default=86_400, ge=0)
    # Kinesis source: leases in DynamoDB (AWS_* variables, AWS_ENDPOINT_URL) or in data_dir (one host).
    kinesis_worker_id: str | None = None
    kinesis_initial_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON"
    kinesis_linger_seconds: float = Field(default=5.0, ge=0)
    kinesis_lease_store: Literal["dynamodb", "sqlite"] = "dynamodb"
    kinesis_lease_table: str = "iotmon-telemetry-leases"
    kinesis_lease_seconds: float = Field(default=10.0, gt=0)


async def build(ctx: BuildContext, settings: TelemetrySettings | None = None) -> BuiltService:
    settings = settings or TelemetrySettings()
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await _store(ctx, settings)
    dead_letters = await _dead_letters(ctx, settings)
    channel = open_channel(ctx.settings.device_addr, service_tokens=ServiceTokens(ctx.settings, SERVICE_NAME))
    ctx.resources.push_async_callback(channel.close)
    directory = GrpcDeviceDirectory(
        channel, positive_ttl=settings.device_cache_seconds, negative_ttl=settings.unknown_device_cache_seconds
    )
    # Every replica keeps its own directory cache, so every replica hears of every device change.
    ctx.bus.subscribe("device.#", directory.on_device_event, group=None)
    activity = GrpcDeviceActivitySink(channel, min_interval_seconds=settings.activity_interval_seconds)
    ctx.resources.push_async_callback(activity.close)
    device_types = load_device_types(settings.device_types_file)
    events = BusTelemetryEvents(ctx.bus)
    ctx.resources.push_async_callback(events.close)
    pipeline = TelemetryPipeline(
        directory=directory,
        store=store,
        dead_letters=dead_letters,
        activity=activity,
        events=events,
        device_types=device_types,
        detector=AnomalyDetector(_detector_settings(settings)),
        limits=Limits(int(settings.future_skew_seconds * 1000), int(settings.retention_days * DAY_MS)),
        decode=orjson.loads,
    )
    service = TelemetryService(
        pipeline,
        store=store,
        dead_letters=dead_letters,
        directory=directory,
        device_types=device_types,
        decode=orjson.loads,
    )
    observe_ingest(lambda: _ingest_counts(pipeline.stats))  # OpenTelemetry metrics, when on
    registration = ServiceRegistration(
        telemetry_pb2.DESCRIPTOR.services_by_name["TelemetryService"],
        telemetry_pb2_grpc.add_TelemetryServiceServicer_to_server,
        TelemetryServicer(
            service, StoreAggregates(store), await _archival(ctx, store, settings), exports=StoreExports(store)
        ),
    )
    background = [_consume(source, pipeline.ingest) for source in _sources(ctx, settings)]
    background.append(lambda: _log_stats(pipeline, settings.stats_interval_seconds))
    return BuiltService(SERVICE_NAME, [registration], background)


def _ingest_counts(stats: IngestStats) -> IngestCounts:
    """The pipeline's counters (read at metric collection) as readings received, ingested, dead-lettered."""
    return IngestCounts(received=dict(stats.records), ingested=stats.accepted, dead_letters=dict(stats.rejected))


async def _archival(ctx: BuildContext, store: TimeSeriesStore, settings: TelemetrySettings) -> ReadingsArchival:
    """Readings past the retention period go to the shared object store (IOTMON_OBJECTS_*), docs/jobs.md."""
    objects = await open_object_store(ctx.settings, ObjectStoreSettings(), ctx.resources)
    return ReadingsArchival(store, objects, settings.retention_days)


def _detector_settings(settings: TelemetrySettings) -> DetectorSettings:
    return DetectorSettings(
        threshold=settings.anomaly_threshold,
        alpha=settings.anomaly_alpha,
        warmup=settings.anomaly_warmup,
        max_devices=settings.anomaly_max_devices,
    )


async def _store(ctx: BuildContext, settings: TelemetrySettings) -> TimeSeriesStore:
    store: TimeSeriesStore
    if settings.store == "memory":
        store = InMemoryTimeSeriesStore()
    elif settings.store == "postgres":
        from services.telemetry.adapters.timeseries_postgres import PostgresTimeSeriesStore

        store = await PostgresTimeSeriesStore.open(settings.postgres_dsn, schema=settings.postgres_schema)
    else:
        from services.telemetry.adapters.timeseries_embedded import EmbeddedTimeSeriesStore

        store = await EmbeddedTimeSeriesStore.open(ctx.settings.data_dir)
    ctx.resources.push_async_callback(store.close)
    return store


async def _dead_letters(ctx: BuildContext, settings: TelemetrySettings) -> DeadLetterStore:
    kind = settings.dlq or {"postgres": "postgres", "memory": "memory"}.get(settings.store, "sqlite")
    letters: DeadLetterStore
    if kind == "memory":
        letters = InMemoryDeadLetterStore()
    elif kind == "postgres":
        from services.telemetry.adapters.dead_letters_postgres import PostgresDeadLetterStore

        letters = await PostgresDeadLetterStore.open(settings.postgres_dsn, schema=settings.postgres_schema)
    elif kind == "dynamodb":
        from services.runtime.dynamodb import open_dynamodb
        from services.telemetry.adapters.dead_letters_dynamodb import DynamoDbDeadLetterStore

        client = await open_dynamodb(ctx.resources, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)
        dynamodb = DynamoDbDeadLetterStore(client, settings.dlq_dynamodb_table)
        if settings.dlq_dynamodb_create_table:
            await dynamodb.ensure_table()
        letters = dynamodb
    else:
        letters = SqliteDeadLetterStore(ctx.settings.data_dir / DLQ_FILE)
    ctx.resources.push_async_callback(letters.close)
    return letters


def _sources(ctx: BuildContext, settings: TelemetrySettings) -> list[TelemetrySource]:
    sources: list[TelemetrySource] = []
    if settings.mqtt_url:
        from services.telemetry.adapters.mqtt_source import MqttSource
        from services.telemetry.adapters.source_mqtt_config import MqttOptions, default_client_id

        options = MqttOptions(
            client_id=settings.mqtt_client_id or default_client_id(),
            group=settings.mqtt_group or None,
            topic_prefix=settings.mqtt_topic_prefix,
            batch_size=settings.batch_size or MQTT_BATCH_SIZE,
            linger_seconds=settings.batch_linger_seconds,
            receive_maximum=settings.mqtt_receive_maximum,
            session_expiry_seconds=settings.mqtt_session_expiry_seconds,
        )
        sources.append(MqttSource(settings.mqtt_url, options))
    if settings.kinesis_stream:
        from services.telemetry.adapters.kinesis_source import KinesisOptions, KinesisSource, default_worker_id

        kinesis = KinesisOptions(
            stream=settings.kinesis_stream,
            worker_id=settings.kinesis_worker_id or default_worker_id(),
            initial_position=settings.kinesis_initial_position,
            batch_size=settings.batch_size or KINESIS_BATCH_SIZE,
            linger_seconds=settings.kinesis_linger_seconds,
            lease_seconds=settings.kinesis_lease_seconds,
            lease_store=settings.kinesis_lease_store,
            lease_table=settings.kinesis_lease_table,
            lease_sqlite_path=ctx.settings.data_dir / "kinesis-leases.db",
        )
        sources.append(KinesisSource(kinesis))
    return sources


def _consume(source: TelemetrySource, ingest: Ingest) -> Callable[[], Coroutine[Any, Any, None]]:
    async def run() -> None:
        await source.run(ingest)

    return run


async def _log_stats(pipeline: TelemetryPipeline, interval_seconds: float) -> None:
    """One JSON line per interval with the ingest counters (spec §4.1 step 6), when something happened."""
    logged: dict[str, object] = {}
    while True:
        await asyncio.sleep(interval_seconds)
        snapshot = pipeline.stats.snapshot()
        if snapshot != logged:
            log.info("telemetry ingest", extra={"ingest": snapshot})
            logged = snapshot
