"""Running the device service for real: built by its bootstrap, served on a free port, beside its peers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc

from services.device.bootstrap import DeviceSettings, build
from services.kernel.clock import Clock
from services.runtime.bus import InProcessBus
from services.runtime.context import current_caller
from services.runtime.server import RunningServer, ServiceRegistration, start_grpc_server
from services.runtime.service import BuildContext, unimplemented_registration
from services.runtime.settings import RuntimeSettings
from tests.support.tasks import running_jobs
from tests.support.tokens import TokenMinter

ALERTING = alerting_pb2.DESCRIPTOR.services_by_name["AlertingService"]


class ThreeActiveAlerts(alerting_pb2_grpc.AlertingServiceServicer):
    """A stand-in alerting service: every device has 3 active alerts; it remembers who asked."""

    def __init__(self) -> None:
        self.asked_by: list[tuple[str, str]] = []

    async def CountActiveAlerts(
        self, request: alerting_pb2.CountActiveAlertsRequest, context: Any
    ) -> alerting_pb2.CountActiveAlertsResponse:
        caller = current_caller()
        self.asked_by.append((caller.organization_id, request.device_id))
        return alerting_pb2.CountActiveAlertsResponse(count=3)


def alerting_registration(servicer: ThreeActiveAlerts | None = None) -> ServiceRegistration:
    """The real-looking peer: a fake servicer, or the placeholder every unbuilt service is today."""
    if servicer is None:
        return unimplemented_registration(ALERTING)
    return ServiceRegistration(ALERTING, alerting_pb2_grpc.add_AlertingServiceServicer_to_server, servicer)


async def serve(token_minter: TokenMinter, registrations: list[ServiceRegistration]) -> RunningServer:
    return await start_grpc_server(registrations, host="127.0.0.1", port=0, verifier=token_minter.verifier())


@dataclass
class DeviceStack:
    address: str
    events: list[tuple[str, bytes]] = field(default_factory=list)

    def routing_keys(self) -> list[str]:
        return [key for key, _ in self.events]


@asynccontextmanager
async def device_stack(
    token_minter: TokenMinter,
    data_dir: Path,
    alerting_addr: str,
    settings: DeviceSettings,
    clock: Clock | None = None,
) -> AsyncIterator[DeviceStack]:
    """The service as `iotmon up` runs it: its gRPC port and its background tasks (the heartbeat)."""
    bus = InProcessBus()
    runtime = RuntimeSettings(
        data_dir=data_dir,
        alerting_addr=alerting_addr,
        service_token_file=token_minter.service_token_file("device"),
    )
    ctx = BuildContext(runtime, bus)
    async with ctx.resources:
        built = await build(ctx, settings, clock)
        running = await serve(token_minter, built.registrations)
        stack = DeviceStack(running.address)

        async def record(routing_key: str, payload: bytes) -> None:
            stack.events.append((routing_key, payload))

        bus.subscribe("device.#", record)
        try:
            async with running_jobs(built.background):
                yield stack
        finally:
            await running.stop(0)


def as_user(token_minter: TokenMinter, role: str = "operator", user: str = "user-1", org: str = "org-1") -> Any:
    return [("authorization", f"Bearer {token_minter.mint(org=org, role=role, user=user)}")]


def as_service(token_minter: TokenMinter, name: str = "telemetry") -> Any:
    return [("authorization", f"Bearer {token_minter.mint_service(name)}")]
