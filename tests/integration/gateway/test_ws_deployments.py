"""/ws pushes firmware.deployment_changed as `deployment` messages to the deployment's organization, with the
deployment exactly as GET /firmware/deployments/{id} shows it: the test asks the gateway's REST route for the
same deployment (a fake firmware service answers it) and compares the two documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from iot.firmware.v1 import events_pb2 as firmware_events
from iot.firmware.v1 import firmware_pb2, firmware_pb2_grpc

from gateway.app import create_app
from gateway.settings import GatewaySettings
from services.runtime.bus import InProcessBus, event_meta
from services.runtime.context import current_caller
from services.runtime.server import ServiceRegistration, start_grpc_server
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings
from tests.integration.gateway.conftest import registrations
from tests.integration.gateway.fakes import FakeDevices, Recorder
from tests.integration.gateway.test_ws import client, receive, send
from tests.support.servers import free_port
from tests.support.tokens import TokenMinter
from tests.support.uvicorn import serving_app

FIRMWARE_SERVICE = "iot.firmware.v1.FirmwareService"


class FakeFirmware(firmware_pb2_grpc.FirmwareServiceServicer):
    """GetDeployment from a dict, for the caller's organization only (as the firmware service answers)."""

    def __init__(self) -> None:
        self.deployments: dict[str, tuple[str, firmware_pb2.Deployment]] = {}

    async def GetDeployment(self, request: firmware_pb2.GetDeploymentRequest, context: Any) -> Any:
        organization_id, deployment = self.deployments[request.deployment_id]
        assert current_caller().can_see(organization_id)
        return firmware_pb2.GetDeploymentResponse(deployment=deployment)


@dataclass
class Env:
    port: int
    bus: InProcessBus
    minter: TokenMinter
    firmware: FakeFirmware

    def url(self, org: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws?token={self.minter.mint(org=org)}"

    async def rest(self, deployment_id: str, org: str) -> Any:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", trust_env=False) as http:
            response = await http.get(
                f"/firmware/deployments/{deployment_id}",
                headers={"Authorization": f"Bearer {self.minter.mint(org=org)}"},
            )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def env(token_minter: TokenMinter) -> AsyncIterator[Env]:
    recorder = Recorder()
    firmware = FakeFirmware()
    served = [r for r in registrations(recorder, FakeDevices(recorder)) if r.descriptor.full_name != FIRMWARE_SERVICE]
    served.append(
        ServiceRegistration(
            firmware_pb2.DESCRIPTOR.services_by_name["FirmwareService"],
            firmware_pb2_grpc.add_FirmwareServiceServicer_to_server,
            firmware,
        )
    )
    server = await start_grpc_server(served, host="127.0.0.1", port=0, verifier=token_minter.verifier())
    bus = InProcessBus()
    app = create_app(
        RuntimeSettings(service_token_file=token_minter.service_token_file("gateway")),
        verifier=token_minter.verifier(),
        addresses=dict.fromkeys(SERVICE_NAMES, server.address),
        gateway_settings=GatewaySettings(upstream_timeout_seconds=2.0),
        bus=bus,
    )
    port = free_port()
    try:
        async with serving_app(app, port=port, lifespan="on"):
            yield Env(port, bus, token_minter, firmware)
    finally:
        await server.stop(0)


def a_deployment(deployment_id: str, status: str = "in_progress", halt_reason: str | None = None) -> Any:
    deployment = firmware_pb2.Deployment(
        deployment_id=deployment_id,
        firmware_id="fw-1",
        firmware_version="2.1.0",
        strategy="staged",
        status=status,
        progress=firmware_pb2.DeploymentProgress(total=30, succeeded=12, failed=1, in_progress=7, pending=10),
        batches=[
            firmware_pb2.DeploymentBatch(batch_id=1, devices=10, status="completed", success_rate=100.0),
            firmware_pb2.DeploymentBatch(batch_id=2, devices=10, status="in_progress", success_rate=20.0),
            firmware_pb2.DeploymentBatch(batch_id=3, devices=10, status="pending"),
        ],
        success_threshold=95.0,
        job_timeout_seconds=600,
        max_retries=1,
        created_by="user-1",
        halt_reason=halt_reason,
    )
    deployment.started_at.FromDatetime(datetime(2025, 11, 15, 10, 0, 0, tzinfo=UTC))
    deployment.created_at.FromDatetime(datetime(2025, 11, 15, 9, 59, 30, 250_000, tzinfo=UTC))
    return deployment


async def changed(env: Env, organization_id: str, deployment: Any) -> None:
    env.firmware.deployments[deployment.deployment_id] = (organization_id, deployment)
    event = firmware_events.DeploymentChanged(meta=event_meta(organization_id), deployment=deployment)
    await env.bus.publish("firmware.deployment_changed", event)


async def test_a_deployment_message_carries_what_the_rest_api_shows(env: Env) -> None:
    async with client(env.url("org-1")) as ws:
        # No subscription needed: deployment progress goes to every connection of the organization.
        await changed(env, "org-1", a_deployment("dep-1"))
        pushed = await receive(ws)
        await changed(env, "org-1", a_deployment("dep-1", status="halted", halt_reason="batch 2 below 95 %"))
        halted = await receive(ws)

    assert pushed["type"] == "deployment"
    assert set(pushed) == {"type", "deployment"}
    assert pushed["deployment"]["deploymentId"] == "dep-1"
    assert pushed["deployment"]["progress"] == {
        "total": 30,
        "succeeded": 12,
        "failed": 1,
        "inProgress": 7,
        "pending": 10,
    }
    assert [b["status"] for b in pushed["deployment"]["batches"]] == ["completed", "in_progress", "pending"]
    # The REST route answers the latest state, which is the halted one.
    assert halted["deployment"] == await env.rest("dep-1", "org-1")
    assert (halted["deployment"]["status"], halted["deployment"]["haltReason"]) == ("halted", "batch 2 below 95 %")
    assert halted["deployment"]["createdAt"] == "2025-11-15T09:59:30.250Z"


async def test_another_organization_gets_no_deployment_messages(env: Env) -> None:
    async with client(env.url("org-1")) as org1, client(env.url("org-2")) as org2:
        await changed(env, "org-1", a_deployment("dep-org1"))
        await changed(env, "org-2", a_deployment("dep-org2"))

        org1_first = await receive(org1)
        # Messages arrive in order, so org-2's first message being its own deployment means org-1's never came.
        org2_first = await receive(org2)
        assert await send(org1, {"action": "ping"}) == {"type": "pong"}
        assert await send(org2, {"action": "ping"}) == {"type": "pong"}

    assert org1_first["deployment"]["deploymentId"] == "dep-org1"
    assert org2_first["deployment"]["deploymentId"] == "dep-org2"
