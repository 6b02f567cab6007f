"""The spec's custom metrics (§9.3) and the platform's own, as OpenTelemetry instruments.

| instrument | kind | attributes |
|---|---|---|
| iotmon.devices.registered | counter | — (spec: DevicesRegistered) |
| iotmon.alerts.generated | counter | severity (spec: AlertsGenerated) |
| iotmon.telemetry.readings.received | observable counter | source |
| iotmon.telemetry.readings.ingested | observable counter | — |
| iotmon.telemetry.dead_letters | observable counter | reason |
| iotmon.notification.deliveries | counter | channel, outcome |
| iotmon.bus.consumer.lag | histogram, s | messaging.destination.name, messaging.consumer.group.name |

Consumer lag is the age of an event when a consumer starts on it: delivery time minus the event's
`meta.occurred_at`. It grows when a group falls behind (queue depth / consumption rate) and, unlike a queue
depth gauge, needs no broker API and reads the same on the in-process bus and on RabbitMQ.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from services.runtime.otel.hooks import IngestCounts

log = logging.getLogger("iotmon.otel")

# Seconds; from in-process deliveries (sub-millisecond) to a group minutes behind.
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900)


class Metrics:
    def __init__(self, meter: Meter):
        self.devices_registered = meter.create_counter(
            "iotmon.devices.registered", unit="{device}", description="Devices registered (spec §9.3 DevicesRegistered)"
        )
        self.alerts_generated = meter.create_counter(
            "iotmon.alerts.generated", unit="{alert}", description="Alerts raised (spec §9.3 AlertsGenerated)"
        )
        self.notification_deliveries = meter.create_counter(
            "iotmon.notification.deliveries",
            unit="{delivery}",
            description="Notification deliveries that reached an outcome, by channel and outcome",
        )
        self.consumer_lag = meter.create_histogram(
            "iotmon.bus.consumer.lag",
            unit="s",
            description="Age of an event when a consumer starts handling it",
            explicit_bucket_boundaries_advisory=LAG_BUCKETS,
        )
        self._pipelines: list[Callable[[], IngestCounts]] = []
        meter.create_observable_counter(
            "iotmon.telemetry.readings.received",
            [self._received],
            unit="{reading}",
            description="Telemetry records received by the ingest pipeline, by source",
        )
        meter.create_observable_counter(
            "iotmon.telemetry.readings.ingested",
            [self._ingested],
            unit="{reading}",
            description="Readings validated and stored",
        )
        meter.create_observable_counter(
            "iotmon.telemetry.dead_letters",
            [self._dead_letters],
            unit="{record}",
            description="Records refused by the ingest pipeline and kept as dead letters, by reason",
        )

    def observe_ingest(self, read: Callable[[], IngestCounts]) -> None:
        self._pipelines.append(read)

    def record_lag(self, seconds: float, routing_key: str, group: str | None) -> None:
        attributes: dict[str, Any] = {"messaging.destination.name": routing_key}
        if group is not None:
            attributes["messaging.consumer.group.name"] = group
        self.consumer_lag.record(max(seconds, 0.0), attributes)

    def _counts(self) -> list[IngestCounts]:
        counts = []
        for read in self._pipelines:
            try:
                counts.append(read())
            except Exception:  # a broken reader must not stop the other metrics from being collected
                log.exception("ingest counters unreadable")
        return counts

    def _received(self, options: CallbackOptions) -> Iterable[Observation]:
        return _by_key((c.received for c in self._counts()), "source")

    def _ingested(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(sum(c.ingested for c in self._counts()))]

    def _dead_letters(self, options: CallbackOptions) -> Iterable[Observation]:
        return _by_key((c.dead_letters for c in self._counts()), "reason")


def _by_key(mappings: Iterable[Any], attribute: str) -> list[Observation]:
    totals: dict[str, int] = {}
    for mapping in mappings:
        for key, value in mapping.items():
            totals[key] = totals.get(key, 0) + value
    return [Observation(value, {attribute: key}) for key, value in sorted(totals.items())]
