"""Bus events → analytics facts (group "analytics": replicas share the events; a handler that raises is
redelivered, which the facts' times and the event ids make harmless)."""

from __future__ import annotations

import time

from google.protobuf import timestamp_pb2
from iot.alerting.v1 import events_pb2 as alerting_events
from iot.common.v1 import common_pb2
from iot.device.v1 import events_pb2 as device_events
from iot.telemetry.v1 import events_pb2 as telemetry_events

from services.analytics.domain.facts import DELETED, AlertFact, DayReadings, DeviceFact, ReadingCount, count_days
from services.analytics.domain.service import AnalyticsService
from services.runtime.bus import EventBus

GROUP = "analytics"
DEVICE_REGISTERED = "device.registered"
DEVICE_STATUS_CHANGED = "device.status_changed"
DEVICE_DELETED = "device.deleted"
ALERT_TRIGGERED = "alerting.alert_triggered"
ALERT_RESOLVED = "alerting.alert_resolved"
READINGS_STORED = "telemetry.readings_stored"


def subscribe(bus: EventBus, service: AnalyticsService) -> None:
    consumer = AnalyticsConsumer(service)
    for key in (DEVICE_REGISTERED, DEVICE_STATUS_CHANGED, DEVICE_DELETED, ALERT_TRIGGERED, ALERT_RESOLVED):
        bus.subscribe(key, consumer.on_event, group=GROUP)
    bus.subscribe(READINGS_STORED, consumer.on_readings, group=GROUP)


class AnalyticsConsumer:
    def __init__(self, service: AnalyticsService):
        self._service = service

    async def on_event(self, routing_key: str, payload: bytes) -> None:
        if routing_key == DEVICE_REGISTERED:
            registered = device_events.DeviceRegistered.FromString(payload)
            d = registered.device
            await self._service.on_devices(
                [DeviceFact(_org(registered.meta), d.device_id, d.status, occurred_ms(registered.meta))]
            )
        elif routing_key == DEVICE_STATUS_CHANGED:
            changed = device_events.DeviceStatusChanged.FromString(payload)
            fact = DeviceFact(_org(changed.meta), changed.device_id, changed.status, occurred_ms(changed.meta))
            await self._service.on_devices([fact])
        elif routing_key == DEVICE_DELETED:
            deleted = device_events.DeviceDeleted.FromString(payload)
            await self._service.on_devices(
                [DeviceFact(_org(deleted.meta), deleted.device_id, DELETED, occurred_ms(deleted.meta))]
            )
        elif routing_key in (ALERT_TRIGGERED, ALERT_RESOLVED):
            message = (
                alerting_events.AlertTriggered if routing_key == ALERT_TRIGGERED else alerting_events.AlertResolved
            )
            event = message.FromString(payload)
            alert = event.alert
            organization_id = alert.organization_id or event.meta.organization_id
            alert_fact = AlertFact(
                organization_id, alert.alert_id, alert.severity, routing_key == ALERT_TRIGGERED, occurred_ms(event.meta)
            )
            await self._service.on_alerts([alert_fact])

    async def on_readings(self, routing_key: str, payload: bytes) -> None:
        event = telemetry_events.ReadingsStored.FromString(payload)
        await self._service.on_days(event.meta.event_id, event.meta.organization_id, days_of(event))


def days_of(event: telemetry_events.ReadingsStored) -> list[DayReadings]:
    """The event's readings counted per UTC day: as telemetry sent them, or, from a publisher older than
    ReadingsStored.days, counted here."""
    if event.days:
        return [DayReadings(d.day, d.readings, d.datapoints, frozenset(d.device_ids)) for d in event.days]
    return count_days(ReadingCount(r.device_id, _millis(r.timestamp), len(r.values)) for r in event.readings)


def _org(meta: common_pb2.EventMeta) -> str:
    return meta.organization_id


def occurred_ms(meta: common_pb2.EventMeta) -> int:
    """When the event happened, by its meta; now for an event that does not say."""
    return _millis(meta.occurred_at) if meta.HasField("occurred_at") else time.time_ns() // 1_000_000


def _millis(stamp: timestamp_pb2.Timestamp) -> int:
    return stamp.seconds * 1000 + stamp.nanos // 1_000_000
