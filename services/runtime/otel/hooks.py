"""What the hot paths consult: None until setup.py turns tracing or metrics on.

No OpenTelemetry import here, so a process without OTEL_* configuration neither loads the SDK nor pays for
it per call: each hook site reads one module attribute and moves on. The count_* functions are the metric
calls the services make at the spot where the thing counted happens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.runtime.otel.metrics import Metrics
    from services.runtime.otel.tracing import Tracing

tracing: Tracing | None = None
metrics: Metrics | None = None


@dataclass(frozen=True)
class IngestCounts:
    """Totals since start of one telemetry pipeline, read when metrics are collected (not per reading)."""

    received: Mapping[str, int] = field(default_factory=dict)  # records by source (http, grpc, mqtt, …)
    ingested: int = 0  # readings stored
    dead_letters: Mapping[str, int] = field(default_factory=dict)  # refused records by reason


def count_device_registered() -> None:
    """Spec §9.3 DevicesRegistered."""
    if metrics is not None:
        metrics.devices_registered.add(1)


def count_alert_generated(severity: str) -> None:
    """Spec §9.3 AlertsGenerated."""
    if metrics is not None:
        metrics.alerts_generated.add(1, {"severity": severity})


def count_notification_delivery(channel: str, outcome: str) -> None:
    """A notification delivery that reached its outcome (sent, failed or suppressed) on its channel."""
    if metrics is not None:
        metrics.notification_deliveries.add(1, {"channel": channel, "outcome": outcome})


def observe_ingest(read: Callable[[], IngestCounts]) -> None:
    """Report a pipeline's counters as the readings-ingested and dead-letter metrics; `read` is called at
    collection time only, so ingesting costs nothing more than the counting the pipeline already does."""
    if metrics is not None:
        metrics.observe_ingest(read)
