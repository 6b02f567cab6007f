"""The evaluator consumer on a real InProcessBus: telemetry events in, raise_alert out.

raise_alert is a fake with the store's rules (no second open alert of a rule and device, cooldown), the
device directory a dictionary; the events are the real protobuf events, published as telemetry publishes them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

import pytest
from iot.alerting.v1 import alerting_pb2
from iot.alerting.v1 import events_pb2 as alerting_events
from iot.device.v1 import device_pb2
from iot.device.v1 import events_pb2 as device_events
from iot.telemetry.v1 import events_pb2 as telemetry_events

from services.alerting.adapters.telemetry_consumer import TelemetryAlertConsumer
from services.alerting.domain.alerts import Alert, AlertCandidate, AlertStatus
from services.alerting.domain.evaluation import DeviceRef, Evaluator
from services.alerting.domain.rules import Condition, ConditionKind, Operator, Rule
from services.runtime.bus import InProcessBus, event_meta
from services.telemetry.adapters.bus_events import BusTelemetryEvents
from services.telemetry.domain.model import Reading
from tests.support.clocks import ManualClock
from tests.unit.alerting.test_evaluation import T0, condition, rule

SENSOR = DeviceRef("dev-1", "org-1", "temperature-sensor-v2", "Boiler room")
ROOF = DeviceRef("dev-2", "org-1", "temperature-sensor-v2", "Roof")
FOREIGN = DeviceRef("dev-3", "org-2", "temperature-sensor-v2", "Elsewhere")


@dataclass
class FakeDevices:
    devices: dict[str, DeviceRef] = field(default_factory=lambda: {d.device_id: d for d in (SENSOR, ROOF, FOREIGN)})
    asked: list[set[str]] = field(default_factory=list)
    invalidated: list[str] = field(default_factory=list)

    async def lookup(self, device_ids: Collection[str]) -> dict[str, DeviceRef]:
        self.asked.append(set(device_ids))
        return {i: self.devices[i] for i in device_ids if i in self.devices}

    def invalidate(self, device_id: str) -> None:
        self.invalidated.append(device_id)


@dataclass
class FakeAlerts:
    """raise_alert as the store enforces it: no second open alert of (rule, device), and the rule's cooldown."""

    alerts: list[Alert] = field(default_factory=list)
    asked: int = 0
    failing: bool = False

    async def raise_alert(self, candidate: AlertCandidate) -> Alert | None:
        self.asked += 1
        if self.failing:
            raise ConnectionError("the alert store is down")
        mine = [a for a in self.alerts if (a.rule_id, a.device_id) == (candidate.rule.rule_id, candidate.device_id)]
        cooldown_ms = candidate.rule.cooldown_seconds * 1000
        if any(a.is_open or candidate.at_ms - a.triggered_at_ms < cooldown_ms for a in mine):
            return None
        alert = Alert(
            alert_id=f"alert-{len(self.alerts) + 1}",
            organization_id=candidate.rule.organization_id,
            rule_id=candidate.rule.rule_id,
            rule_name=candidate.rule.name,
            device_id=candidate.device_id,
            device_name=candidate.device_name,
            severity=candidate.rule.severity,
            status=AlertStatus.TRIGGERED,
            condition=candidate.condition,
            actual_value=candidate.actual_value,
            threshold=candidate.threshold,
            triggered_at_ms=candidate.at_ms,
        )
        self.alerts.append(alert)
        return alert

    def resolve(self, alert: Alert) -> Alert:
        resolved = replace(alert, status=AlertStatus.RESOLVED)
        self.alerts[self.alerts.index(alert)] = resolved
        return resolved


@dataclass
class Rules:
    rules: list[Rule]
    loads: int = 0

    async def __call__(self) -> list[Rule]:
        self.loads += 1
        return list(self.rules)


@dataclass
class Harness:
    bus: InProcessBus
    consumer: TelemetryAlertConsumer
    alerts: FakeAlerts
    devices: FakeDevices
    rules: Rules
    clock: ManualClock

    async def readings(self, *readings: tuple[DeviceRef, float, dict[str, float]]) -> None:
        """Publish one batch as telemetry does (readings taken `at_s` after T0), arriving at the clock's time."""
        await BusTelemetryEvents(self.bus).readings_stored(
            [
                Reading(d.device_id, d.organization_id, d.device_type, T0 + int(at_s * 1000), v)
                for d, at_s, v in readings
            ]
        )

    def at(self, seconds: float) -> None:
        self.clock.now = T0 / 1000 + seconds


async def harness(*rules: Rule) -> Harness:
    bus, alerts, devices, source, clock = (
        InProcessBus(),
        FakeAlerts(),
        FakeDevices(),
        Rules(list(rules)),
        ManualClock(T0 / 1000),
    )
    consumer = TelemetryAlertConsumer(Evaluator(), devices, alerts.raise_alert, source, clock=clock)
    await consumer.reload_rules()
    consumer.subscribe(bus)
    await bus.start()
    return Harness(bus, consumer, alerts, devices, source, clock)


async def test_a_held_condition_raises_one_alert_over_the_bus() -> None:
    h = await harness(rule(condition(duration=300)))
    for second in range(0, 601, 60):
        h.at(second)
        await h.readings((SENSOR, second, {"temperature": 45.0}), (ROOF, second, {"temperature": 20.0}))
    [alert] = h.alerts.alerts
    assert (alert.device_id, alert.device_name, alert.actual_value) == ("dev-1", "Boiler room", 45.0)
    assert alert.triggered_at_ms == T0 + 300_000, "raised at the reading that completed 300 s"
    assert h.alerts.asked == 1, "while the alert is open the store is not asked again"


async def test_readings_of_another_organizations_device_are_ignored() -> None:
    h = await harness(rule())
    # An event of org-1 naming org-2's device: a forged or stale id.
    event = telemetry_events.ReadingsStored(meta=event_meta("org-1"))
    event.readings.add(device_id="dev-3", values={"temperature": 99.0}).timestamp.FromMilliseconds(T0)
    await h.bus.publish("telemetry.readings_stored", event)
    assert h.alerts.asked == 0


async def test_organizations_without_rules_cost_no_device_lookup() -> None:
    h = await harness(rule(organization_id="org-9"))
    await h.readings((SENSOR, 0, {"temperature": 45.0}))
    assert h.devices.asked == []


async def test_a_resolved_alert_lets_the_rule_fire_again_after_the_cooldown() -> None:
    h = await harness(rule(cooldown_seconds=60))
    await h.readings((SENSOR, 0, {"temperature": 45.0}))
    [alert] = h.alerts.alerts
    resolved = h.alerts.resolve(alert)
    message = alerting_events.AlertResolved(
        meta=event_meta("org-1"), alert=alerting_pb2.Alert(rule_id=resolved.rule_id, device_id=resolved.device_id)
    )
    await h.bus.publish("alerting.alert_resolved", message)
    h.at(30)
    await h.readings((SENSOR, 30, {"temperature": 45.0}))
    assert len(h.alerts.alerts) == 1, "inside the cooldown the store declines"
    h.at(35)
    await h.readings((SENSOR, 35, {"temperature": 45.0}))
    assert h.alerts.asked == 2, "after declining, the store is not asked again for 10 s"
    h.at(61)
    await h.readings((SENSOR, 61, {"temperature": 45.0}))
    assert [a.triggered_at_ms for a in h.alerts.alerts] == [T0, T0 + 61_000]


async def test_a_rule_change_event_reloads_the_rules() -> None:
    h = await harness(rule())
    h.rules.rules = [rule(conditions=(condition(threshold=50),), updated_at_ms=T0 + 1)]
    await h.bus.publish(
        "alerting.rule_changed", alerting_events.RuleChanged(meta=event_meta("org-1"), rule_id="rule-1")
    )
    await h.readings((SENSOR, 0, {"temperature": 45.0}))
    assert h.alerts.alerts == []
    await h.readings((SENSOR, 1, {"temperature": 51.0}))
    assert [a.condition for a in h.alerts.alerts] == ["temperature > 50"]


async def test_an_anomaly_is_a_reading_of_anomaly_metric() -> None:
    h = await harness(rule(conditions=(Condition("anomaly.temperature", Operator.GT, 3),)))
    await h.readings((SENSOR, 0, {"temperature": 45.0}))
    reading = Reading("dev-1", "org-1", SENSOR.device_type, T0, {"temperature": 45.0})
    await BusTelemetryEvents(h.bus).anomaly_detected(reading, "temperature", 2.5)
    assert h.alerts.alerts == []
    await BusTelemetryEvents(h.bus).anomaly_detected(replace(reading, timestamp_ms=T0 + 1000), "temperature", 4.5)
    [alert] = h.alerts.alerts
    assert (alert.condition, alert.actual_value, alert.threshold) == ("anomaly.temperature > 3", 4.5, 3)


async def test_a_deleted_device_starts_over_and_device_events_refresh_the_cache() -> None:
    h = await harness(rule(condition(duration=60)))
    await h.readings((SENSOR, 0, {"temperature": 45.0}))
    await h.bus.publish("device.deleted", device_events.DeviceDeleted(meta=event_meta("org-1"), device_id="dev-1"))
    renamed = device_events.DeviceUpdated(meta=event_meta("org-1"), device=device_pb2.Device(device_id="dev-2"))
    await h.bus.publish("device.updated", renamed)
    assert h.devices.invalidated == ["dev-1", "dev-2"]
    h.at(60)
    await h.readings((SENSOR, 60, {"temperature": 45.0}))
    assert h.alerts.alerts == [], "the streak of the deleted device is gone"


async def test_when_raising_fails_the_event_fails_and_its_redelivery_raises() -> None:
    h = await harness(rule())
    event = telemetry_events.ReadingsStored(meta=event_meta("org-1"))
    event.readings.add(device_id="dev-1", values={"temperature": 45.0}).timestamp.FromMilliseconds(T0)
    payload = event.SerializeToString()
    h.alerts.failing = True
    with pytest.raises(ConnectionError):
        await h.consumer.on_readings_stored("telemetry.readings_stored", payload)
    h.alerts.failing = False
    await h.consumer.on_readings_stored("telemetry.readings_stored", payload)  # what the bus does next
    assert len(h.alerts.alerts) == 1


async def test_the_sweep_raises_no_data_alerts() -> None:
    h = await harness(rule(conditions=(Condition("temperature", Operator.GT, 0, 120, ConditionKind.NO_DATA),)))
    await h.readings((SENSOR, 0, {"temperature": 20.0}), (ROOF, 0, {"temperature": 20.0}))
    h.at(100)
    await h.readings((ROOF, 100, {"temperature": 20.0}))
    h.at(130)
    await h.consumer.sweep()
    [alert] = h.alerts.alerts
    assert (alert.device_id, alert.condition, alert.actual_value) == ("dev-1", "no data for temperature in 120 s", 130)
