"""A real gRPC server hosting fakes of every service, and the gateway in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from iot.alerting.v1 import alerting_pb2
from iot.analytics.v1 import analytics_pb2
from iot.device.v1 import device_pb2, device_pb2_grpc
from iot.firmware.v1 import firmware_pb2
from iot.identity.v1 import identity_pb2, identity_pb2_grpc
from iot.notification.v1 import notification_pb2
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import GatewaySettings
from services.runtime.server import RunningServer, ServiceRegistration, start_grpc_server
from services.runtime.service import unimplemented_registration
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings
from tests.integration.gateway.fakes import FakeDevices, FakeIdentity, FakeTelemetry, Recorder
from tests.support.tokens import TokenMinter

UPSTREAM_TIMEOUT_SECONDS = 1.0


@dataclass
class Mesh:
    server: RunningServer
    recorder: Recorder
    devices: FakeDevices


def registrations(recorder: Recorder, devices: FakeDevices) -> list[ServiceRegistration]:
    return [
        ServiceRegistration(
            device_pb2.DESCRIPTOR.services_by_name["DeviceService"],
            device_pb2_grpc.add_DeviceServiceServicer_to_server,
            devices,
        ),
        ServiceRegistration(
            telemetry_pb2.DESCRIPTOR.services_by_name["TelemetryService"],
            telemetry_pb2_grpc.add_TelemetryServiceServicer_to_server,
            FakeTelemetry(recorder),
        ),
        ServiceRegistration(
            identity_pb2.DESCRIPTOR.services_by_name["IdentityService"],
            identity_pb2_grpc.add_IdentityServiceServicer_to_server,
            FakeIdentity(recorder),
        ),
        *(
            unimplemented_registration(module.DESCRIPTOR.services_by_name[name])
            for module, name in [
                (alerting_pb2, "AlertingService"),
                (notification_pb2, "NotificationService"),
                (firmware_pb2, "FirmwareService"),
                (analytics_pb2, "AnalyticsService"),
            ]
        ),
    ]


@pytest.fixture
async def mesh(token_minter: TokenMinter) -> AsyncIterator[Mesh]:
    recorder = Recorder()
    devices = FakeDevices(recorder)
    server = await start_grpc_server(
        registrations(recorder, devices), host="127.0.0.1", port=0, verifier=token_minter.verifier()
    )
    yield Mesh(server, recorder, devices)
    await server.stop(0)


def gateway_app(token_minter: TokenMinter, address: str, **options: float) -> Starlette:
    return create_app(
        RuntimeSettings(),
        verifier=token_minter.verifier(),
        addresses=dict.fromkeys(SERVICE_NAMES, address),
        gateway_settings=GatewaySettings(
            upstream_timeout_seconds=UPSTREAM_TIMEOUT_SECONDS, readiness_cache_seconds=0.05, **options
        ),
    )


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an in-process httpx client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


@pytest.fixture
async def client(mesh: Mesh, token_minter: TokenMinter) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(gateway_app(token_minter, mesh.server.address)) as http:
        yield http


@pytest.fixture
def auth(token_minter: TokenMinter) -> dict[str, str]:
    return bearer(token_minter.mint(org="org-1", role="admin"))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
