"""Two evaluator replicas on RabbitMQ sharing one partitioned group, as two alerting processes would.

Each replica has its own bus connection, evaluator and device cache; they share the alert store (a fake
with the store's de-duplication). Telemetry publishes from a third connection, as the telemetry service does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from services.alerting.adapters.telemetry_consumer import TelemetryAlertConsumer
from services.alerting.domain.evaluation import DeviceRef, Evaluator
from services.runtime.bus import EventBus
from services.telemetry.adapters.bus_events import BusTelemetryEvents
from services.telemetry.domain.model import Reading
from tests.integration.alerting.test_evaluator_bus import FakeAlerts, FakeDevices, Rules
from tests.integration.bus.support import RabbitMqCluster
from tests.support.servers import require_server
from tests.unit.alerting.test_evaluation import T0, condition, rule

pytestmark = pytest.mark.needs_server

DEVICES = [DeviceRef(f"dev-{i}", "org-1", "temperature-sensor-v2", f"Sensor {i}") for i in range(8)]
WAIT = 15.0


@dataclass
class Replica:
    bus: EventBus
    consumer: TelemetryAlertConsumer
    evaluator: Evaluator


@pytest.fixture
async def cluster() -> AsyncIterator[RabbitMqCluster]:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    running = RabbitMqCluster()
    try:
        yield running
    finally:
        await running.close()


async def replica(cluster: RabbitMqCluster, group: str, alerts: FakeAlerts, rules: Rules) -> Replica:
    bus = cluster.member()
    evaluator = Evaluator()
    devices = FakeDevices({d.device_id: d for d in DEVICES})
    consumer = TelemetryAlertConsumer(evaluator, devices, alerts.raise_alert, rules, group=group)
    await consumer.reload_rules()
    consumer.subscribe(bus)
    await bus.start()
    return Replica(bus, consumer, evaluator)


async def two_replicas(
    cluster: RabbitMqCluster,
) -> tuple[FakeAlerts, tuple[Replica, Replica], BusTelemetryEvents]:
    """Two replicas in one group with one rule (temperature above 40 for 2 minutes), their shared alerts and
    a publisher."""
    group = cluster.group("alerting")
    alerts, rules = FakeAlerts(), Rules([rule(condition(duration=120))])
    first, second = [await replica(cluster, group, alerts, rules) for _ in range(2)]
    publisher = cluster.member()
    await publisher.start()
    await cluster.settle(group)  # the two have shared out the partitions before anything is published
    return alerts, (first, second), BusTelemetryEvents(publisher)


async def publish_minute(publisher: BusTelemetryEvents, minute: int) -> None:
    """One batch: every device at 45 °C, `minute` minutes after T0."""
    at_ms = T0 + minute * 60_000
    await publisher.readings_stored(
        [Reading(d.device_id, d.organization_id, d.device_type, at_ms, {"temperature": 45.0}) for d in DEVICES]
    )


async def until(done: Callable[[], bool]) -> None:
    for _ in range(int(WAIT / 0.02)):
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not done within {WAIT} s")


def evaluated(*replicas: Replica) -> int:
    return sum(r.consumer.readings_evaluated for r in replicas)


async def test_two_replicas_raise_a_held_condition_exactly_once_per_device(cluster: RabbitMqCluster) -> None:
    alerts, (first, second), events = await two_replicas(cluster)
    for minute in range(5):
        await publish_minute(events, minute)
    await until(lambda: evaluated(first, second) == 5 * len(DEVICES))

    assert sorted(a.device_id for a in alerts.alerts) == sorted(d.device_id for d in DEVICES), "one alert each"
    assert alerts.asked == len(DEVICES), "the open alert kept each device's rule quiet afterwards"
    for device in DEVICES:
        holders = [r for r in (first, second) if r.evaluator.knows(device.device_id)]
        assert len(holders) == 1, "a device's state lives in one replica"


async def test_when_a_replica_closes_the_other_takes_its_partitions(cluster: RabbitMqCluster) -> None:
    alerts, (first, second), events = await two_replicas(cluster)
    await publish_minute(events, 0)
    await until(lambda: evaluated(first, second) == len(DEVICES))
    survivor, before = second, second.consumer.readings_evaluated
    await first.bus.close()

    for minute in range(1, 5):
        await publish_minute(events, minute)
    await until(lambda: survivor.consumer.readings_evaluated == before + 4 * len(DEVICES))

    # Devices that moved start their streaks at minute 1 (held 120 s at minute 3), the others at minute 0.
    assert sorted(a.device_id for a in alerts.alerts) == sorted(d.device_id for d in DEVICES)
    assert alerts.asked == len(DEVICES), "exactly once per device, all by the survivor"
    assert survivor.evaluator.device_count == len(DEVICES)
