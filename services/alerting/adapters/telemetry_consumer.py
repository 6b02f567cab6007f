"""The evaluator on the event bus: telemetry events in, raise_alert out (semantics: domain/evaluation/engine.py).

Subscriptions:
- telemetry.readings_stored and telemetry.anomaly_detected in group "alerting", partitioned by device: the
  state of a device lives in the one replica that owns its partition, and moves when that replica dies.
- alerting.rule_changed, alerting.alert_resolved and device.# broadcast (group None): every replica keeps
  its own rule cache, open-alert memory and device cache.

An AnomalyDetected is evaluated as a reading of the metric "anomaly.<metric>" whose value is the score, so
a threshold rule on "anomaly.temperature" > 3 alerts on unusual temperatures.

State lives in memory: when a replica dies, the replica that takes its partitions starts each device's
streaks at the first reading it receives (a "held for 300 s" then needs 300 s of readings again); the
store's de-duplication keeps that from raising a second open alert.

The only I/O per reading is raising (and a device lookup when the cache misses). A handler that fails
(the device service or the alert store is down) raises, so the bus redelivers the event: readings already
taken into account change nothing the second time, and the failed candidates fire again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol

from iot.alerting.v1 import events_pb2 as alerting_events
from iot.telemetry.v1 import events_pb2 as telemetry_events

from services.alerting.adapters.device_lookup import DEVICE_DELETED, device_id_of_event
from services.alerting.domain.alerts import Alert, AlertCandidate
from services.alerting.domain.evaluation import DeviceRef, Evaluator
from services.alerting.domain.rules import Rule
from services.runtime.bus import EventBus

log = logging.getLogger("iotmon.alerting.evaluator")

READINGS_STORED = "telemetry.readings_stored"
ANOMALY_DETECTED = "telemetry.anomaly_detected"
RULE_CHANGED = "alerting.rule_changed"
ALERT_RESOLVED = "alerting.alert_resolved"
DEVICE_EVENTS = "device.#"
GROUP = "alerting"
ANOMALY_PREFIX = "anomaly."

RaiseAlert = Callable[[AlertCandidate], Awaitable[Alert | None]]
RulesSource = Callable[[], Awaitable[list[Rule]]]


class DeviceLookup(Protocol):
    """What the consumer needs of the device directory (GrpcDeviceLookup, or a fake in tests)."""

    async def lookup(self, device_ids: Collection[str]) -> dict[str, DeviceRef]:
        """The devices among the ids that exist and are not deleted."""
        ...

    def invalidate(self, device_id: str) -> None: ...


class TelemetryAlertConsumer:
    def __init__(
        self,
        evaluator: Evaluator,
        devices: DeviceLookup,
        raise_alert: RaiseAlert,
        rules: RulesSource,
        *,
        group: str = GROUP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._evaluator = evaluator
        self._devices = devices
        self._raise_alert = raise_alert
        self._rules = rules
        self._group = group
        self._clock = clock
        self._reload_lock = asyncio.Lock()
        self.readings_evaluated = 0  # counters for the stats line and tests
        self.alerts_raised = 0

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(READINGS_STORED, self.on_readings_stored, group=self._group, partitioned=True)
        bus.subscribe(ANOMALY_DETECTED, self.on_anomaly_detected, group=self._group, partitioned=True)
        bus.subscribe(RULE_CHANGED, self.on_rule_changed, group=None)
        bus.subscribe(ALERT_RESOLVED, self.on_alert_resolved, group=None)
        bus.subscribe(DEVICE_EVENTS, self.on_device_event, group=None)

    async def reload_rules(self) -> None:
        """Fetch every rule again. Serialized: the last reload to finish read the store last."""
        async with self._reload_lock:
            rules = await self._rules()
            changed = self._evaluator.replace_rules(rules)
        if changed:
            log.info("alert rules reloaded", extra={"rules": len(rules), "changed": sorted(changed)})

    async def on_readings_stored(self, routing_key: str, payload: bytes) -> None:
        event = telemetry_events.ReadingsStored.FromString(payload)
        organization_id = event.meta.organization_id
        if not event.readings or not self._evaluator.watches(organization_id):
            return
        devices = await self._devices_of(organization_id, {r.device_id for r in event.readings})
        now_ms = self._now_ms()
        on_reading = self._evaluator.on_reading
        candidates: list[AlertCandidate] = []
        for reading in event.readings:
            device = devices.get(reading.device_id)
            if device is not None:
                stamp = reading.timestamp
                timestamp_ms = stamp.seconds * 1000 + stamp.nanos // 1_000_000
                candidates.extend(on_reading(device, timestamp_ms, reading.values, now_ms))
        self.readings_evaluated += len(event.readings)
        await self._raise_all(candidates)

    async def on_anomaly_detected(self, routing_key: str, payload: bytes) -> None:
        event = telemetry_events.AnomalyDetected.FromString(payload)
        organization_id = event.meta.organization_id
        if not self._evaluator.watches(organization_id):
            return
        device = (await self._devices_of(organization_id, [event.device_id])).get(event.device_id)
        if device is None:
            return
        stamp = event.timestamp
        timestamp_ms = stamp.seconds * 1000 + stamp.nanos // 1_000_000
        values = {ANOMALY_PREFIX + event.metric: event.score}
        await self._raise_all(self._evaluator.on_reading(device, timestamp_ms, values, self._now_ms()))

    async def on_rule_changed(self, routing_key: str, payload: bytes) -> None:
        await self.reload_rules()

    async def on_alert_resolved(self, routing_key: str, payload: bytes) -> None:
        alert = alerting_events.AlertResolved.FromString(payload).alert
        self._evaluator.alert_resolved(alert.rule_id, alert.device_id)

    async def on_device_event(self, routing_key: str, payload: bytes) -> None:
        device_id = device_id_of_event(routing_key, payload)
        if device_id is None:
            return
        self._devices.invalidate(device_id)
        if routing_key == DEVICE_DELETED:
            self._evaluator.forget_device(device_id)

    async def sweep(self) -> None:
        """One sweep: no-data alerts and forgetting silent devices."""
        await self._raise_all(self._evaluator.sweep(self._now_ms()))

    async def sweep_forever(self, interval_seconds: float) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self.sweep()
            except Exception:
                log.exception("alert sweep failed; the next one tries again")

    async def reload_forever(self, interval_seconds: float) -> None:
        """The safety net under alerting.rule_changed (a lost event, a replica that was down)."""
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self.reload_rules()
            except Exception:
                log.exception("reloading alert rules failed; keeping the rules in memory")

    async def _devices_of(self, organization_id: str, device_ids: Collection[str]) -> dict[str, DeviceRef]:
        found = await self._devices.lookup(device_ids)
        # An event names its organization: a device of another one (a forged or stale id) is ignored.
        return {i: d for i, d in found.items() if d.organization_id == organization_id}

    async def _raise_all(self, candidates: list[AlertCandidate]) -> None:
        if not candidates:
            return
        results = await asyncio.gather(*(self._raise(c) for c in candidates), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _raise(self, candidate: AlertCandidate) -> None:
        try:
            alert = await self._raise_alert(candidate)
        except BaseException:
            self._evaluator.raise_failed(candidate)
            raise
        self._evaluator.raised(candidate, alert is not None, self._now_ms())
        if alert is not None:
            self.alerts_raised += 1

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
