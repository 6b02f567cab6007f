"""Usage on the bus (§6.4): readings stored and the gateway's API-call counts are counted in group
"analytics-usage" (its own queues: the dashboard's group "analytics" keeps its own copy of the readings), and a
stored report is announced on analytics.usage_reported for the notification service to email."""

from __future__ import annotations

from iot.analytics.v1 import usage_events_pb2
from iot.common.v1 import jobs_pb2
from iot.telemetry.v1 import events_pb2 as telemetry_events

from services.analytics.adapters.consumers import days_of, occurred_ms
from services.analytics.domain.usage import UsageReport
from services.analytics.domain.usage_service import UsageReports
from services.analytics.usage_messages import usage_message
from services.runtime.bus import EventBus, EventPublisher, event_meta

GROUP = "analytics-usage"
READINGS_STORED = "telemetry.readings_stored"
API_CALLS = "gateway.api_calls"
USAGE_REPORTED = "analytics.usage_reported"


class BusUsageEvents:
    def __init__(self, bus: EventPublisher):
        self._bus = bus

    async def usage_reported(self, report: UsageReport) -> None:
        event = usage_events_pb2.UsageReported(meta=event_meta(report.organization_id), usage=usage_message(report))
        await self._bus.publish(USAGE_REPORTED, event)


def subscribe_usage(bus: EventBus, usage: UsageReports) -> None:
    async def on_readings(routing_key: str, payload: bytes) -> None:
        event = telemetry_events.ReadingsStored.FromString(payload)
        await usage.on_days(event.meta.event_id, event.meta.organization_id, days_of(event))

    async def on_api_calls(routing_key: str, payload: bytes) -> None:
        event = jobs_pb2.ApiCallsCounted.FromString(payload)
        await usage.on_api_calls(event.meta.event_id, event.meta.organization_id, occurred_ms(event.meta), event.calls)

    bus.subscribe(READINGS_STORED, on_readings, group=GROUP)
    bus.subscribe(API_CALLS, on_api_calls, group=GROUP)
