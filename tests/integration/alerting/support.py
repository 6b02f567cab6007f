"""The alerting service for real: built by its bootstrap, served on a free port, beside a real telemetry
service (device types) and a stand-in identity service that names callers from their own token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iot.identity.v1 import identity_pb2, identity_pb2_grpc

from services.alerting.bootstrap import SQLITE_FILE, AlertingSettings, build
from services.runtime.bus import InProcessBus
from services.runtime.context import current_caller
from services.runtime.server import RunningServer, ServiceRegistration
from services.runtime.service import BuildContext
from services.runtime.settings import RuntimeSettings
from services.telemetry.bootstrap import TelemetrySettings
from services.telemetry.bootstrap import build as build_telemetry
from tests.integration.device.support import serve
from tests.support.tasks import running_jobs
from tests.support.tokens import TokenMinter

IDENTITY = identity_pb2.DESCRIPTOR.services_by_name["IdentityService"]


class ProfilesByToken(identity_pb2_grpc.IdentityServiceServicer):
    """GetProfile answers for whoever the forwarded token names: `user-456` is `Name of user-456`."""

    def __init__(self) -> None:
        self.asked_by: list[str] = []

    async def GetProfile(
        self, request: identity_pb2.GetProfileRequest, context: Any
    ) -> identity_pb2.GetProfileResponse:
        caller = current_caller()
        self.asked_by.append(caller.user_id)
        return identity_pb2.GetProfileResponse(
            user=identity_pb2.User(user_id=caller.user_id, name=f"Name of {caller.user_id}", email=caller.email)
        )


@dataclass
class AlertingStack:
    address: str
    telemetry_address: str
    bus: InProcessBus
    store_path: Path
    identity: ProfilesByToken
    events: list[tuple[str, bytes]] = field(default_factory=list)

    def routing_keys(self) -> list[str]:
        return [key for key, _ in self.events]


@asynccontextmanager
async def telemetry_server(token_minter: TokenMinter, data_dir: Path) -> AsyncIterator[RunningServer]:
    """The real telemetry service (memory stores): only its device-type RPCs are used here."""
    ctx = BuildContext(RuntimeSettings(data_dir=data_dir), InProcessBus())
    async with ctx.resources:
        built = await build_telemetry(ctx, TelemetrySettings(store="memory", dlq="memory", mqtt_url=None))
        running = await serve(token_minter, built.registrations)
        try:
            yield running
        finally:
            await running.stop(0)


@asynccontextmanager
async def alerting_stack(
    token_minter: TokenMinter, data_dir: Path, settings: AlertingSettings | None = None, *, background: bool = False
) -> AsyncIterator[AlertingStack]:
    """`background` also runs the service's background jobs (the cleanup, and the evaluator once it is hooked in)."""
    identity = ProfilesByToken()
    identity_server = await serve(
        token_minter, [ServiceRegistration(IDENTITY, identity_pb2_grpc.add_IdentityServiceServicer_to_server, identity)]
    )
    async with telemetry_server(token_minter, data_dir / "telemetry") as telemetry:
        bus = InProcessBus()
        runtime = RuntimeSettings(
            data_dir=data_dir,
            telemetry_addr=telemetry.address,
            identity_addr=identity_server.address,
            service_token_file=token_minter.service_token_file("alerting"),
        )
        ctx = BuildContext(runtime, bus)
        async with ctx.resources:
            built = await build(ctx, settings or AlertingSettings(store="sqlite"))
            running = await serve(token_minter, built.registrations)
            stack = AlertingStack(running.address, telemetry.address, bus, data_dir / SQLITE_FILE, identity)

            async def record(routing_key: str, payload: bytes) -> None:
                stack.events.append((routing_key, payload))

            bus.subscribe("alerting.#", record)
            try:
                async with running_jobs(built.background if background else []):
                    yield stack
            finally:
                await running.stop(0)
    await identity_server.stop(0)
