"""Composition root of the device service: the one place that picks adapters from settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from iot.device.v1 import device_pb2, device_pb2_grpc
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.device.adapters.alerting_client import GrpcActiveAlerts
from services.device.adapters.bus_events import BusDeviceEvents
from services.device.adapters.embedded_registry import EmbeddedDeviceRegistry
from services.device.adapters.firmware_consumer import subscribe_to_jobs
from services.device.adapters.memory import InMemoryDeviceRepository
from services.device.adapters.sqlite import SqliteDeviceRepository
from services.device.domain.firmware import FirmwareInstalls
from services.device.domain.health import HealthPolicy
from services.device.domain.liveness import LivenessService
from services.device.domain.service import DeviceService
from services.device.heartbeat import HeartbeatSweeper
from services.device.ports import DeviceRegistry, DeviceRepository
from services.device.servicer import DeviceServicer
from services.kernel.clock import Clock, SystemClock
from services.runtime.clients import open_channel
from services.runtime.server import ServiceRegistration
from services.runtime.service import BuildContext, BuiltService
from services.runtime.service_tokens import ServiceTokens


class DeviceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_DEVICE_", extra="ignore")

    # sqlite keeps data_dir/devices.db; memory forgets everything on restart (tests, demos).
    store: Literal["sqlite", "dynamodb", "memory"] = "sqlite"
    registry: Literal["embedded", "iot-core"] = "embedded"
    dynamodb_table: str = "iotmon-devices"
    # Creates the table when missing: handy locally, off where infrastructure code owns the table.
    dynamodb_create_table: bool = True
    # For moto or LocalStack; None means the real AWS endpoint of the region.
    aws_endpoint_url: str | None = None
    aws_region: str | None = None
    iot_policy_name: str = "iotmon-device"
    # Where devices of the embedded registry connect; IoT Core reports its own endpoint.
    mqtt_endpoint: str = "127.0.0.1:8883"
    # An online device not heard from for this long goes offline (docs/device-health.md).
    heartbeat_timeout_seconds: float = Field(default=300.0, gt=0)
    # How often the heartbeat looks for silent devices; by default a tenth of the timeout, 30 s at most.
    heartbeat_sweep_seconds: float | None = Field(default=None, gt=0)
    # Uptime and data quality cover this many hours up to now.
    health_window_hours: int = Field(default=24, ge=1, le=24 * 31)

    @property
    def sweep_interval_seconds(self) -> float:
        return self.heartbeat_sweep_seconds or min(self.heartbeat_timeout_seconds / 10, 30.0)

    def health_policy(self) -> HealthPolicy:
        return HealthPolicy(
            heartbeat_timeout=timedelta(seconds=self.heartbeat_timeout_seconds),
            window=timedelta(hours=self.health_window_hours),
        )


async def build(ctx: BuildContext, settings: DeviceSettings | None = None, clock: Clock | None = None) -> BuiltService:
    """`clock` is for tests that move time on; the service itself runs on the system clock."""
    settings = settings or DeviceSettings()
    clock = clock or SystemClock()
    policy = settings.health_policy()
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Asking about active alerts is internal to the platform: the device service asks as itself.
    channel = open_channel(ctx.settings.alerting_addr, service_tokens=ServiceTokens(ctx.settings, "device"))
    ctx.resources.push_async_callback(channel.close)
    repository = await _repository(ctx, settings)
    events = BusDeviceEvents(ctx.bus)
    service = DeviceService(
        repository=repository,
        registry=await _registry(ctx, settings),
        alerts=GrpcActiveAlerts(channel),
        events=events,
        clock=clock,
        policy=policy,
    )
    liveness = LivenessService(repository, events, clock, policy)
    # A device's firmwareVersion follows its successful firmware jobs (domain/firmware.py).
    subscribe_to_jobs(ctx.bus, FirmwareInstalls(repository, events, clock).record_firmware_installed)
    registration = ServiceRegistration(
        device_pb2.DESCRIPTOR.services_by_name["DeviceService"],
        device_pb2_grpc.add_DeviceServiceServicer_to_server,
        DeviceServicer(service, liveness),
    )
    sweeper = HeartbeatSweeper(liveness, settings.sweep_interval_seconds)
    return BuiltService("device", [registration], background=[sweeper.run])


async def _repository(ctx: BuildContext, settings: DeviceSettings) -> DeviceRepository:
    if settings.store == "memory":
        return InMemoryDeviceRepository()
    if settings.store == "sqlite":
        sqlite = SqliteDeviceRepository(ctx.settings.data_dir / "devices.db")
        ctx.resources.callback(sqlite.close)
        return sqlite
    # AWS libraries are an optional extra (iotmon[aws]): imported only when asked for.
    import aioboto3

    from services.device.adapters.dynamodb import DynamoDbDeviceRepository

    client = await ctx.resources.enter_async_context(
        aioboto3.Session().client("dynamodb", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region)
    )
    dynamodb = DynamoDbDeviceRepository(client, settings.dynamodb_table)
    if settings.dynamodb_create_table:
        await dynamodb.ensure_table()
    return dynamodb


async def _registry(ctx: BuildContext, settings: DeviceSettings) -> DeviceRegistry:
    if settings.registry == "embedded":
        embedded = await EmbeddedDeviceRegistry.open(ctx.settings.data_dir / "ca", settings.mqtt_endpoint)
        ctx.resources.callback(embedded.close)
        return embedded
    import aioboto3

    from services.device.adapters.iot_core_registry import IotCoreDeviceRegistry

    client = await ctx.resources.enter_async_context(
        aioboto3.Session().client("iot", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region)
    )
    return IotCoreDeviceRegistry(client, settings.iot_policy_name)
