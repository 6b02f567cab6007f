"""Trace context and event age cross RabbitMQ in AMQP message headers, between two bus connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from services.runtime import bus_topology as topology
from services.runtime.bus_rabbitmq import OCCURRED_MS_HEADER
from services.runtime.context import traceparent_var
from services.runtime.otel import hooks
from tests.integration.bus.support import AMQP_URL, WAIT, RabbitMqCluster, event
from tests.support.otel import parent_id, recording, service_of
from tests.support.servers import require_server

pytestmark = pytest.mark.needs_server


@pytest.fixture
async def cluster() -> AsyncIterator[RabbitMqCluster]:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    made = RabbitMqCluster()
    try:
        yield made
    finally:
        await made.close()


class NotificationHandler:
    """A handler as services/notification defines them: its module names the consumer's component."""

    __module__ = "services.notification.adapters.bus_events"

    def __init__(self) -> None:
        self.traceparents: list[str | None] = []
        self.heard = asyncio.Event()

    async def __call__(self, routing_key: str, body: bytes) -> None:
        self.traceparents.append(traceparent_var.get())
        self.heard.set()


def traceparent(trace_id: int, span_id: int, flags: int) -> str:
    return f"00-{format_trace_id(trace_id)}-{format_span_id(span_id)}-{flags:02x}"


async def test_the_message_on_the_wire_carries_the_producer_span_and_the_event_time(cluster: RabbitMqCluster) -> None:
    group = cluster.group("wire")
    consumer = cluster.member()
    consumer.subscribe("device.#", NotificationHandler(), group=group)
    await consumer.start()
    await consumer.close()  # the durable queue keeps the message for us to read
    publisher = cluster.member()
    await publisher.start()
    sent = event("d1")
    with recording(["device"]) as recorded:
        assert hooks.tracing is not None
        with hooks.tracing.tracer("device").start_as_current_span("DeleteDevice"):
            await publisher.publish("device.deleted", sent, partition_key="d1")
        (producer,) = [s for s in recorded.spans() if s.kind is SpanKind.PRODUCER]
    async with await aio_pika.connect(AMQP_URL) as connection:
        queue = await (await connection.channel()).declare_queue(topology.group_queue(group, "device.#"), passive=True)
        message = await queue.get(no_ack=True)
    context = producer.context
    assert message.headers["traceparent"] == traceparent(context.trace_id, context.span_id, int(context.trace_flags))
    occurred_ms = sent.meta.occurred_at.seconds * 1000 + sent.meta.occurred_at.nanos // 1_000_000
    assert message.headers[OCCURRED_MS_HEADER] == occurred_ms
    assert producer.attributes is not None
    assert producer.attributes["messaging.system"] == "rabbitmq"


async def test_a_consumer_in_another_connection_continues_the_publisher_trace(cluster: RabbitMqCluster) -> None:
    group = cluster.group("notify")
    handler = NotificationHandler()
    consumer = cluster.member()
    consumer.subscribe("device.deleted", handler, group=group)
    await consumer.start()
    publisher = cluster.member()
    await publisher.start()
    with recording(["device", "notification"]) as recorded:
        assert hooks.tracing is not None
        with hooks.tracing.tracer("device").start_as_current_span("DeleteDevice") as request:
            await publisher.publish("device.deleted", event("d2"))
        async with asyncio.timeout(WAIT):
            await handler.heard.wait()
            while True:  # the consumer span ends just after the handler returns
                spans = recorded.spans()
                if any(s.kind is SpanKind.CONSUMER for s in spans):
                    break
                await asyncio.sleep(0.01)
        lag_groups = recorded.metric("iotmon.bus.consumer.lag")
    (producer,) = [s for s in spans if s.kind is SpanKind.PRODUCER]
    (consumed,) = [s for s in spans if s.kind is SpanKind.CONSUMER]
    trace_id = request.get_span_context().trace_id
    assert consumed.context.trace_id == producer.context.trace_id == trace_id
    assert parent_id(producer) == request.get_span_context().span_id
    assert parent_id(consumed) == producer.context.span_id  # only the AMQP headers could have told it
    assert consumed.parent is not None
    assert consumed.parent.is_remote
    assert service_of(producer) == "iotmon-device"
    assert service_of(consumed) == "iotmon-notification"
    assert consumed.name == "process device.deleted"
    context = consumed.context
    assert handler.traceparents == [traceparent(context.trace_id, context.span_id, int(context.trace_flags))]
    key = frozenset({("messaging.destination.name", "device.deleted"), ("messaging.consumer.group.name", group)})
    assert lag_groups[key] == 1
