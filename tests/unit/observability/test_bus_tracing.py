"""The in-process bus carries trace context from publish to each delivery, as a broker's headers would."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from iot.device.v1 import events_pb2
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from services.runtime.bus import InProcessBus, event_meta
from services.runtime.context import traceparent_var
from services.runtime.otel import hooks
from services.runtime.otel.tracing import component_of_handler
from tests.support.otel import parent_id, recording, service_of


def registered(organization_id: str = "org-1") -> events_pb2.DeviceRegistered:
    return events_pb2.DeviceRegistered(meta=event_meta(organization_id))


class AlertingHandler:
    """Stands for a handler defined in services/alerting (the module decides the component)."""

    __module__ = "services.alerting.adapters.telemetry_consumer"

    def __init__(self) -> None:
        self.traceparents: list[str | None] = []
        self.failures_left = 0

    async def __call__(self, routing_key: str, payload: bytes) -> None:
        self.traceparents.append(traceparent_var.get())
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("not yet")


async def test_each_delivery_is_a_consumer_span_child_of_the_publish() -> None:
    bus = InProcessBus()
    alerting = AlertingHandler()
    bus.subscribe("device.#", alerting, group="alerting")
    with recording(["device", "alerting", "gateway"]) as recorded:
        assert hooks.tracing is not None
        with hooks.tracing.tracer("device").start_as_current_span("RegisterDevice") as request:
            await bus.publish("device.registered", registered())
        spans = recorded.spans()
    producer = next(s for s in spans if s.kind is SpanKind.PRODUCER)
    consumer = next(s for s in spans if s.kind is SpanKind.CONSUMER)
    trace_id = request.get_span_context().trace_id
    assert producer.name == "publish device.registered"
    assert producer.context.trace_id == consumer.context.trace_id == trace_id
    assert parent_id(producer) == request.get_span_context().span_id
    assert parent_id(consumer) == producer.context.span_id
    assert consumer.name == "process device.registered"
    assert (service_of(producer), service_of(consumer)) == ("iotmon-device", "iotmon-alerting")
    assert consumer.attributes is not None
    assert consumer.attributes["messaging.consumer.group.name"] == "alerting"
    # The handler runs in the consumer span's context: what it publishes or calls carries it on.
    span_id = format_span_id(consumer.context.span_id)
    flags = int(consumer.context.trace_flags)
    assert alerting.traceparents == [f"00-{format_trace_id(trace_id)}-{span_id}-{flags:02x}"]


async def test_retries_of_one_delivery_stay_in_one_span_and_lag_is_measured_from_the_event() -> None:
    bus = InProcessBus(max_attempts=3)
    alerting = AlertingHandler()
    alerting.failures_left = 2
    bus.subscribe("device.registered", alerting, group="alerting")
    event = registered()
    event.meta.occurred_at.FromDatetime(datetime.now(UTC) - timedelta(seconds=30))
    with recording(["alerting"]) as recorded:
        await bus.publish("device.registered", event)
        consumers = [s for s in recorded.spans() if s.kind is SpanKind.CONSUMER]
        lag = recorded.reader.get_metrics_data()
    assert len(alerting.traceparents) == 3
    assert len(set(alerting.traceparents)) == 1
    assert len(consumers) == 1
    (point,) = [
        p
        for r in lag.resource_metrics
        for s in r.scope_metrics
        for m in s.metrics
        if m.name == "iotmon.bus.consumer.lag"
        for p in m.data.data_points
    ]
    assert point.count == 1
    assert 29 < point.sum < 60  # the event's age, not the handler's time


async def test_with_tracing_off_handlers_see_the_publisher_traceparent_as_before() -> None:
    bus = InProcessBus()
    handler = AlertingHandler()
    bus.subscribe("device.#", handler, group=None)
    token = traceparent_var.set("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    try:
        event = registered()
    finally:
        traceparent_var.reset(token)
    assert hooks.tracing is None
    await bus.publish("device.registered", event)
    assert event.meta.traceparent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert handler.traceparents == [None]  # the in-process bus never forwarded it: the meta carries it


class Consumer:
    async def on_event(self, routing_key: str, payload: bytes) -> None:
        return None


Consumer.on_event.__module__ = "services.notification.adapters.bus_events"


def test_the_component_of_a_handler_is_its_package_or_else_its_group() -> None:
    async def plain(routing_key: str, payload: bytes) -> None:
        return None

    assert component_of_handler(AlertingHandler(), None) == "alerting"
    assert component_of_handler(functools.partial(AlertingHandler()), None) == "alerting"
    bound = Consumer().on_event  # a bound method: its function's module counts, not the group's name
    assert component_of_handler(bound, "alerting") == "notification"
    plain.__module__ = "gateway.ws.hub"
    assert component_of_handler(plain, None) == "gateway"
    plain.__module__ = "services.runtime.bus_rabbitmq"  # a partitioned group's dispatcher
    assert component_of_handler(plain, "alerting") == "alerting"
    assert component_of_handler(plain, "iotmon-test-group") is None
