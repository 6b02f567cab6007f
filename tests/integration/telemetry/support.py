"""The telemetry service for real: built by its bootstrap on a free port, next to a real device service
(built by its own bootstrap), sharing one in-process bus as under `iotmon up`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc.aio
from google.protobuf import json_format
from iot.device.v1 import device_pb2, device_pb2_grpc
from iot.telemetry.v1 import telemetry_pb2_grpc

from services.device.bootstrap import DeviceSettings
from services.device.bootstrap import build as build_device
from services.runtime.bus import InProcessBus
from services.runtime.clients import open_channel
from services.runtime.server import RunningServer
from services.runtime.service import BuildContext, BuiltService
from services.runtime.service_tokens import ServiceTokens
from services.runtime.settings import RuntimeSettings
from services.telemetry.bootstrap import TelemetrySettings
from services.telemetry.bootstrap import build as build_telemetry
from tests.e2e.spec_payloads import REGISTER_DEVICE
from tests.integration.device.support import alerting_registration, serve
from tests.support.tokens import TokenMinter


@dataclass
class TelemetryStack:
    device_address: str
    telemetry_address: str
    bus: InProcessBus
    built: BuiltService
    channels: list[grpc.aio.Channel] = field(default_factory=list)
    events: list[tuple[str, bytes]] = field(default_factory=list)

    def channel(self, address: str) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(address)
        self.channels.append(channel)
        return channel

    def devices(self) -> device_pb2_grpc.DeviceServiceStub:
        return device_pb2_grpc.DeviceServiceStub(self.channel(self.device_address))

    def telemetry(self) -> telemetry_pb2_grpc.TelemetryServiceStub:
        return telemetry_pb2_grpc.TelemetryServiceStub(self.channel(self.telemetry_address))


def runtime_settings(token_minter: TokenMinter, data_dir: Path, service: str, **addresses: str) -> RuntimeSettings:
    return RuntimeSettings(data_dir=data_dir, service_token_file=token_minter.service_token_file(service), **addresses)


@asynccontextmanager
async def device_channel(
    stack: TelemetryStack, token_minter: TokenMinter, data_dir: Path, service: str
) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to the stack's device service carrying `service`'s own token (as that service's adapters use)."""
    tokens = ServiceTokens(runtime_settings(token_minter, data_dir, service), service)
    async with open_channel(stack.device_address, service_tokens=tokens) as opened:
        yield opened


@asynccontextmanager
async def telemetry_stack(
    token_minter: TokenMinter, data_dir: Path, settings: TelemetrySettings
) -> AsyncIterator[TelemetryStack]:
    bus = InProcessBus()
    async with AsyncExitStack() as stack:
        alerting = await serve(token_minter, [alerting_registration()])
        stack.push_async_callback(alerting.stop, 0)
        device_ctx = BuildContext(
            runtime_settings(token_minter, data_dir, "device", alerting_addr=alerting.address), bus
        )
        await stack.enter_async_context(device_ctx.resources)
        device_built = await build_device(device_ctx, DeviceSettings(store="sqlite", registry="embedded"))
        device = await serve(token_minter, device_built.registrations)
        stack.push_async_callback(device.stop, 0)
        telemetry_ctx = BuildContext(
            runtime_settings(token_minter, data_dir, "telemetry", device_addr=device.address), bus
        )
        await stack.enter_async_context(telemetry_ctx.resources)
        built = await build_telemetry(telemetry_ctx, settings)
        telemetry: RunningServer = await serve(token_minter, built.registrations)
        stack.push_async_callback(telemetry.stop, 0)
        running = TelemetryStack(device.address, telemetry.address, bus, built)

        async def record(routing_key: str, payload: bytes) -> None:
            running.events.append((routing_key, payload))

        bus.subscribe("#", record)
        try:
            yield running
        finally:
            for channel in running.channels:
                await channel.close()


def as_user(token_minter: TokenMinter, role: str = "operator", org: str = "org-1", user: str = "user-1") -> Any:
    return [("authorization", f"Bearer {token_minter.mint(org=org, role=role, user=user)}")]


def as_service(token_minter: TokenMinter, name: str = "ops") -> Any:
    return [("authorization", f"Bearer {token_minter.mint_service(name)}")]


async def register(stack: TelemetryStack, token_minter: TokenMinter, org: str = "org-1", **overrides: Any) -> str:
    request = json_format.ParseDict(
        {**REGISTER_DEVICE, "metadata": {}, **overrides}, device_pb2.RegisterDeviceRequest()
    )
    reply = await stack.devices().RegisterDevice(request, metadata=as_user(token_minter, org=org))
    return str(reply.device_id)
