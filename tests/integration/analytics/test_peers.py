"""The analytics service's gRPC clients against real device and telemetry services (built by their
bootstraps), with the analytics service's own token: device counts and listings for reconciliation, device
ownership for the query, and telemetry's internal aggregate and daily-count RPCs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from iot.device.v1 import device_pb2
from iot.telemetry.v1 import telemetry_pb2

from services.analytics.adapters.peers import GrpcDeviceCensus, GrpcDeviceOwnership, GrpcTelemetry
from services.analytics.domain.query import QueryPlan
from services.runtime.clients import open_channel
from services.runtime.service_tokens import ServiceTokens
from services.telemetry.bootstrap import TelemetrySettings
from tests.integration.device.test_device_state import activity, iso
from tests.integration.telemetry.support import (
    TelemetryStack,
    as_service,
    as_user,
    register,
    runtime_settings,
    telemetry_stack,
)
from tests.support.tokens import TokenMinter

MINUTE = 60_000


@pytest.fixture
async def stack(tmp_path: Path, token_minter: TokenMinter) -> AsyncIterator[TelemetryStack]:
    async with telemetry_stack(token_minter, tmp_path, TelemetrySettings(store="embedded")) as running:
        yield running


@pytest.fixture
def tokens(token_minter: TokenMinter, tmp_path: Path) -> ServiceTokens:
    return ServiceTokens(runtime_settings(token_minter, tmp_path, "analytics"), "analytics")


async def test_device_counts_listing_and_ownership(
    stack: TelemetryStack, tokens: ServiceTokens, token_minter: TokenMinter
) -> None:
    seen = await register(stack, token_minter, org="org-1")
    idle = await register(stack, token_minter, org="org-1", name="Idle")
    gone = await register(stack, token_minter, org="org-1", name="Gone")
    theirs = await register(stack, token_minter, org="org-2")
    devices = stack.devices()
    await devices.RecordDeviceActivity(activity(seen, lastSeen=iso()), metadata=as_service(token_minter))
    await devices.DeleteDevice(
        device_pb2.DeleteDeviceRequest(device_id=gone), metadata=as_user(token_minter, role="admin")
    )

    async with open_channel(stack.device_address, service_tokens=tokens) as channel:
        census = GrpcDeviceCensus(channel)
        counts = await census.counts("org-1")
        statuses = await census.statuses("org-1")
        owned = await GrpcDeviceOwnership(channel).owned("org-1", [seen, idle, gone, theirs, "dev-nobody"])

    assert counts == {"registered": 1, "online": 1, "offline": 0, "maintenance": 0}
    assert statuses == {seen: "online", idle: "registered"}
    assert owned == {seen, idle}


async def test_telemetry_aggregates_and_daily_counts_for_the_analytics_service_only(
    stack: TelemetryStack, tokens: ServiceTokens, token_minter: TokenMinter
) -> None:
    device = await register(stack, token_minter, org="org-1")
    start = (int(time.time() * 1000) // (15 * MINUTE) - 2) * 15 * MINUTE
    temperatures = [20.0, 22.0, 30.0, 10.0]
    records = [
        telemetry_pb2.TelemetryRecord(device_id=device, timestamp=start + i * MINUTE, data={"temperature": t})
        for i, t in enumerate(temperatures)
    ]
    ingested = await stack.telemetry().IngestTelemetry(
        telemetry_pb2.IngestTelemetryRequest(records=records), metadata=as_user(token_minter)
    )
    assert ingested.accepted == 4
    plan = QueryPlan((device,), ("temperature",), start, start + 15 * MINUTE, "15m", 15 * MINUTE, "p50")

    async with open_channel(stack.telemetry_address, service_tokens=tokens) as channel:
        client = GrpcTelemetry(channel)
        series = await client.aggregate("org-1", plan)
        elsewhere = await client.aggregate("org-2", plan)
        daily = await client.daily("org-1", start - 86_400_000, start + 86_400_000)

    assert [(s.device_id, s.metric, s.points) for s in series] == [(device, "temperature", [(start, 21.0)])]
    assert elsewhere == []
    day = time.strftime("%Y-%m-%d", time.gmtime(start // 1000))
    assert daily == {day: 4}
    request = telemetry_pb2.CountDailyDatapointsRequest(organization_id="org-1")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.telemetry().CountDailyDatapoints(request, metadata=as_user(token_minter, role="admin"))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
