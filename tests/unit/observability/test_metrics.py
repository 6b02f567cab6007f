"""The metric calls the services make: nothing when off, the right instrument and attributes when on."""

from __future__ import annotations

from services.runtime.otel import hooks
from services.runtime.otel.hooks import IngestCounts
from tests.support.otel import recording


def test_counting_with_metrics_off_does_nothing() -> None:
    assert hooks.metrics is None
    hooks.count_device_registered()
    hooks.count_alert_generated("critical")
    hooks.count_notification_delivery("email", "sent")
    hooks.observe_ingest(lambda: IngestCounts(ingested=1))  # never read


def test_counters_add_up_by_attribute() -> None:
    with recording(["device"]) as recorded:
        hooks.count_device_registered()
        hooks.count_device_registered()
        hooks.count_alert_generated("critical")
        hooks.count_alert_generated("warning")
        hooks.count_alert_generated("critical")
        hooks.count_notification_delivery("email", "sent")
        hooks.count_notification_delivery("sms", "failed")
        hooks.count_notification_delivery("email", "sent")
        assert recorded.total("iotmon.devices.registered") == 2
        assert recorded.metric("iotmon.alerts.generated") == {
            frozenset({("severity", "critical")}): 2,
            frozenset({("severity", "warning")}): 1,
        }
        deliveries = recorded.metric("iotmon.notification.deliveries")
        assert deliveries[frozenset({("channel", "email"), ("outcome", "sent")})] == 2
        assert deliveries[frozenset({("channel", "sms"), ("outcome", "failed")})] == 1


def test_ingest_counters_are_read_at_collection_and_summed_over_pipelines() -> None:
    first = IngestCounts(received={"http": 3}, ingested=2, dead_letters={"UNKNOWN_DEVICE": 1})
    second = {"counts": IngestCounts(received={"http": 1, "mqtt": 5}, ingested=6)}

    def broken() -> IngestCounts:
        raise RuntimeError("a pipeline whose counters cannot be read")

    with recording(["telemetry"]) as recorded:
        hooks.observe_ingest(lambda: first)
        hooks.observe_ingest(broken)
        hooks.observe_ingest(lambda: second["counts"])
        assert recorded.total("iotmon.telemetry.readings.ingested") == 8
        assert recorded.total("iotmon.telemetry.readings.received", source="http") == 4
        assert recorded.total("iotmon.telemetry.readings.received", source="mqtt") == 5
        assert recorded.total("iotmon.telemetry.dead_letters", reason="UNKNOWN_DEVICE") == 1
        second["counts"] = IngestCounts(received={"http": 2, "mqtt": 9}, ingested=10, dead_letters={"OUT_OF_RANGE": 2})
        assert recorded.total("iotmon.telemetry.readings.ingested") == 12
        assert recorded.total("iotmon.telemetry.readings.received", source="mqtt") == 9
        assert recorded.total("iotmon.telemetry.dead_letters") == 3


def test_consumer_lag_is_a_histogram_by_destination_and_group() -> None:
    with recording(["alerting"]) as recorded:
        metrics = hooks.metrics
        assert metrics is not None
        metrics.record_lag(0.002, "telemetry.readings_stored", "alerting")
        metrics.record_lag(-1.0, "telemetry.readings_stored", "alerting")  # clocks apart: counted as 0
        metrics.record_lag(4.0, "device.registered", None)
        lag = recorded.metric("iotmon.bus.consumer.lag")
    key = frozenset(
        {("messaging.destination.name", "telemetry.readings_stored"), ("messaging.consumer.group.name", "alerting")}
    )
    assert lag[key] == 2
    assert lag[frozenset({("messaging.destination.name", "device.registered")})] == 1
