"""The evaluator as bootstrap builds it (build_evaluator), behind real device and telemetry services.

Readings go in over the telemetry service's gRPC ingest, ReadingsStored travels the in-process bus as under
`iotmon up`, and the evaluator looks devices up over BatchGetDevices with the alerting service's own token.
raise_alert is the fake store of test_evaluator_bus.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import grpc.aio
import pytest
from iot.device.v1 import device_pb2

from services.alerting.adapters.device_lookup import GrpcDeviceLookup
from services.alerting.domain.evaluation import DeviceRef
from services.alerting.domain.rules import Condition, ConditionKind, Operator
from services.alerting.evaluator import EvaluatorSettings, build_evaluator
from services.kernel.errors import Unavailable
from services.runtime.service import BuildContext
from services.telemetry.adapters.bus_events import BusTelemetryEvents
from services.telemetry.bootstrap import TelemetrySettings
from services.telemetry.domain.model import Reading
from tests.integration.alerting.test_evaluator_bus import FakeAlerts, Rules
from tests.integration.telemetry.support import (
    TelemetryStack,
    as_user,
    device_channel,
    register,
    runtime_settings,
    telemetry_stack,
)
from tests.integration.telemetry.test_servicer import http_batch, reading
from tests.support.clocks import ManualClock
from tests.support.servers import free_port
from tests.support.tasks import running_jobs
from tests.support.tokens import TokenMinter
from tests.unit.alerting.test_evaluation import condition, rule

NAME = "Office-Temp-Sensor-1"  # the spec's registration payload


@pytest.fixture
async def stack(tmp_path: Path, token_minter: TokenMinter) -> AsyncIterator[TelemetryStack]:
    async with telemetry_stack(token_minter, tmp_path, TelemetrySettings(store="memory")) as running:
        yield running


async def evaluate(
    stack: TelemetryStack, token_minter: TokenMinter, tmp_path: Path, alerts: FakeAlerts, rules: Rules
) -> AsyncExitStack:
    """build_evaluator as the alerting bootstrap calls it, its background jobs running."""
    resources = AsyncExitStack()
    settings = runtime_settings(token_minter, tmp_path, "alerting", device_addr=stack.device_address)
    ctx = BuildContext(settings, stack.bus, resources)
    jobs = await build_evaluator(ctx, alerts.raise_alert, rules, EvaluatorSettings(sweep_seconds=0.05))
    await resources.enter_async_context(running_jobs(jobs))
    return resources


async def ingest(stack: TelemetryStack, token_minter: TokenMinter, *records: object) -> None:
    await stack.telemetry().IngestTelemetry(http_batch(*records), metadata=as_user(token_minter))


async def test_a_reading_ingested_over_grpc_raises_an_alert_with_the_devices_name(
    stack: TelemetryStack, token_minter: TokenMinter, tmp_path: Path
) -> None:
    sensor = await register(stack, token_minter)
    other_org = await register(stack, token_minter, org="org-2")
    alerts = FakeAlerts()
    async with await evaluate(stack, token_minter, tmp_path, alerts, Rules([rule()])):
        now = int(time.time() * 1000)
        await ingest(
            stack, token_minter, reading(sensor, now - 2000, temperature=30), reading(sensor, now, temperature=45)
        )
        await stack.telemetry().IngestTelemetry(
            http_batch(reading(other_org, now, temperature=99)), metadata=as_user(token_minter, org="org-2")
        )
    [alert] = alerts.alerts
    assert (alert.device_id, alert.device_name, alert.actual_value, alert.condition) == (
        sensor,
        NAME,
        45,
        "temperature > 40",
    )


async def test_the_sweep_job_raises_no_data_for_a_device_that_went_silent(
    stack: TelemetryStack, token_minter: TokenMinter, tmp_path: Path
) -> None:
    sensor = await register(stack, token_minter)
    alerts = FakeAlerts()
    silent = rule(conditions=(Condition("humidity", Operator.GT, 0, 1, ConditionKind.NO_DATA),))
    async with await evaluate(stack, token_minter, tmp_path, alerts, Rules([silent])):
        await ingest(stack, token_minter, reading(sensor, int(time.time() * 1000)))
        assert alerts.alerts == []
        for _ in range(100):
            if alerts.alerts:
                break
            await asyncio.sleep(0.05)
    [alert] = alerts.alerts
    assert (alert.device_id, alert.condition) == (sensor, "no data for humidity in 1 s")
    assert alert.actual_value >= 1


async def test_a_deleted_device_stops_being_evaluated(
    stack: TelemetryStack, token_minter: TokenMinter, tmp_path: Path
) -> None:
    deleted, kept = await register(stack, token_minter), await register(stack, token_minter)
    alerts = FakeAlerts()
    async with await evaluate(stack, token_minter, tmp_path, alerts, Rules([rule(condition(duration=60))])):
        now = int(time.time() * 1000)
        await ingest(stack, token_minter, *(reading(d, now - 60_000, temperature=45) for d in (deleted, kept)))
        await stack.devices().DeleteDevice(
            device_pb2.DeleteDeviceRequest(device_id=deleted), metadata=as_user(token_minter, role="admin")
        )
        # Telemetry refuses readings of a deleted device; a late event about it must not complete its streak.
        late = [Reading(d, "org-1", "temperature-sensor-v2", now, {"temperature": 45.0}) for d in (deleted, kept)]
        await BusTelemetryEvents(stack.bus).readings_stored(late)
    assert [a.device_id for a in alerts.alerts] == [kept]


@pytest.fixture
async def channel(stack: TelemetryStack, token_minter: TokenMinter, tmp_path: Path) -> AsyncIterator[grpc.aio.Channel]:
    async with device_channel(stack, token_minter, tmp_path, "alerting") as opened:
        yield opened


async def test_lookup_names_devices_of_every_organization_and_leaves_out_deleted_ones(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    mine = await register(stack, token_minter)
    theirs = await register(stack, token_minter, org="org-2", deviceType="air-quality-v1", name="Lobby")
    gone = await register(stack, token_minter)
    await stack.devices().DeleteDevice(
        device_pb2.DeleteDeviceRequest(device_id=gone), metadata=as_user(token_minter, role="admin")
    )
    found = await GrpcDeviceLookup(channel).lookup([mine, theirs, gone, "dev-nobody"])
    assert found == {
        mine: DeviceRef(mine, "org-1", "temperature-sensor-v2", NAME),
        theirs: DeviceRef(theirs, "org-2", "air-quality-v1", "Lobby"),
    }


async def test_lookup_caches_until_the_ttl_or_an_invalidation(
    stack: TelemetryStack, channel: grpc.aio.Channel, token_minter: TokenMinter
) -> None:
    clock = ManualClock()
    lookup = GrpcDeviceLookup(channel, positive_ttl=300, negative_ttl=5, clock=clock)
    device_id = await register(stack, token_minter)
    await lookup.lookup([device_id, "dev-later"])
    await lookup.lookup([device_id, "dev-later"])
    assert lookup.calls == 1
    clock.now += 6
    await lookup.lookup([device_id])
    assert lookup.calls == 1, "the device is still cached"
    await lookup.lookup(["dev-later"])
    assert lookup.calls == 2, "an unknown id is asked again after 5 s"
    lookup.invalidate(device_id)
    await lookup.lookup([device_id])
    assert lookup.calls == 3, "a device event dropped the entry"


async def test_an_unreachable_device_service_is_unavailable_and_nothing_is_cached() -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") as dead:
        lookup = GrpcDeviceLookup(dead, timeout_seconds=1.0)
        for _ in range(2):  # a failed call remembers nothing: the next lookup asks again
            with pytest.raises(Unavailable, match="readings will be redelivered"):
                await lookup.lookup(["dev-1"])
        assert lookup.calls == 2
