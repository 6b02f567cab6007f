"""What only the RabbitMQ bus can show: the message on the wire, redelivery when a consumer dies, partition
failover, a graceful close, reconnection after a network cut, and the first connection's retries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest

from services.runtime import bus_topology as topology
from services.runtime.bus import partition_of
from services.runtime.bus_rabbitmq import BusUnavailable, RabbitMqBus
from services.runtime.bus_topology import RabbitMqOptions
from services.runtime.context import traceparent_var
from tests.integration.bus.support import (
    AMQP_URL,
    PARTITIONS,
    WAIT,
    RabbitMqCluster,
    Recorder,
    TcpProxy,
    event,
)
from tests.support.servers import free_port, require_server

pytestmark = pytest.mark.needs_server

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(autouse=True)
def rabbitmq() -> None:
    require_server("RabbitMQ", "127.0.0.1", 5672)


@pytest.fixture
async def cluster() -> AsyncIterator[RabbitMqCluster]:
    made = RabbitMqCluster()
    try:
        yield made
    finally:
        await made.close()


class Blocking(Recorder):
    """Records, then blocks forever on `block_on` (until cancelled): a handler caught mid-event.

    Recorders given one `blocked` set block only the first time any of them sees the event."""

    def __init__(
        self, block_on: str, blocked: set[str] | None = None, changed: asyncio.Condition | None = None
    ) -> None:
        super().__init__(changed=changed or asyncio.Condition())
        self.block_on = block_on
        self.blocked = set() if blocked is None else blocked

    async def __call__(self, routing_key: str, body: bytes) -> None:
        await super().__call__(routing_key, body)
        if self.devices[-1] == self.block_on and self.block_on not in self.blocked:
            self.blocked.add(self.block_on)
            await asyncio.Event().wait()


async def test_a_published_event_is_in_the_queue_when_publish_returns(cluster: RabbitMqCluster) -> None:
    group = cluster.group("wire")
    consumer = cluster.member()
    consumer.subscribe("device.#", Recorder(), group=group)
    await consumer.start()
    await consumer.close()  # the durable queue stays, with nobody taking its messages
    publisher = cluster.member()
    await publisher.start()

    token = traceparent_var.set(TRACEPARENT)
    try:
        sent = event("d1")
    finally:
        traceparent_var.reset(token)
    await publisher.publish("device.deleted", sent, partition_key="d1")

    async with await aio_pika.connect(AMQP_URL) as connection:
        queue = await (await connection.channel()).declare_queue(topology.group_queue(group, "device.#"), passive=True)
        message = await queue.get(no_ack=True)  # no waiting: the confirm came after the queue stored it
    assert message.body == sent.SerializeToString()
    assert message.content_type == "application/x-protobuf"
    assert message.type == "iot.device.v1.DeviceDeleted"
    assert message.message_id == sent.meta.event_id
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.headers["x-partition"] == partition_of("d1", PARTITIONS)
    assert message.headers["traceparent"] == TRACEPARENT
    assert message.routing_key == "device.deleted"


async def test_handlers_see_the_publisher_traceparent(cluster: RabbitMqCluster) -> None:
    seen: list[str | None] = []
    done = asyncio.Event()

    async def handler(routing_key: str, body: bytes) -> None:
        seen.append(traceparent_var.get())
        done.set()

    bus = cluster.member()
    bus.subscribe("device.#", handler, group=cluster.group("trace"))
    await bus.start()
    token = traceparent_var.set(TRACEPARENT)
    try:
        await bus.publish("device.deleted", event("d1"))
    finally:
        traceparent_var.reset(token)

    await asyncio.wait_for(done.wait(), WAIT)
    assert seen == [TRACEPARENT]


async def test_an_event_in_flight_when_its_consumer_dies_goes_to_another_member(cluster: RabbitMqCluster) -> None:
    group = cluster.group("workers")
    dying, survivor = Blocking(block_on="d1"), Recorder()
    first = cluster.member()
    first.subscribe("device.#", dying, group=group)
    await first.start()
    await first.publish("device.deleted", event("d1"))
    await dying.wait_for(1)

    second = cluster.member()
    second.subscribe("device.#", survivor, group=group)
    await second.start()
    await first.close()  # the handler outlives drain_seconds: cancelled, never acknowledged

    await survivor.wait_for(1)
    assert survivor.devices == ["d1"]


async def test_close_lets_a_running_handler_finish_and_acknowledge() -> None:
    cluster = RabbitMqCluster(drain_seconds=5.0)
    try:
        group = cluster.group("graceful")
        finished: list[str] = []
        started = asyncio.Event()

        async def slow(routing_key: str, body: bytes) -> None:
            started.set()
            await asyncio.sleep(0.5)
            finished.append(routing_key)

        closing, other = cluster.member(), cluster.member()
        other_got = Recorder()
        closing.subscribe("device.#", slow, group=group)
        await closing.start()
        await closing.publish("device.deleted", event("d1"))
        await asyncio.wait_for(started.wait(), WAIT)
        other.subscribe("device.#", other_got, group=group)
        await other.start()

        await closing.close()
        assert finished == ["device.deleted"]
        await asyncio.sleep(0.5)  # a redelivery would have reached the other member by now
        assert other_got.received == []
    finally:
        await cluster.close()


async def test_a_partition_moves_to_another_member_when_its_consumer_dies(cluster: RabbitMqCluster) -> None:
    group = cluster.group("alerting")
    blocked: set[str] = set()
    changed = asyncio.Condition()
    recorders = {bus: Blocking("k:10", blocked, changed) for bus in (cluster.member(), cluster.member())}
    for bus, recorder in recorders.items():
        bus.subscribe("device.#", recorder, group=group, partitioned=True)
        await bus.start()
    await cluster.settle(group)  # each member active on its own partitions, the other next in line

    sent = [f"k:{seq:02}" for seq in range(20)]
    publisher = next(iter(recorders))
    for device in sent:
        await publisher.publish("device.status_changed", event(device), partition_key="k")
    async with asyncio.timeout(WAIT), changed:
        await changed.wait_for(lambda: any("k:10" in r.devices for r in recorders.values()))
    [(dying, active)] = [(bus, r) for bus, r in recorders.items() if r.received]
    [standby] = [r for r in recorders.values() if r is not active]
    assert standby.received == []
    await dying.close()

    await standby.wait_for(10)
    assert active.devices == sent[:11]
    assert standby.devices == sent[10:]  # the event in flight comes again, then the rest, in order
    survivor = next(bus for bus in recorders if bus is not dying)
    await survivor.publish("device.status_changed", event("j:00"), partition_key="j")
    await standby.wait_for(11)
    assert standby.devices[-1] == "j:00"


class LogWatcher(logging.Handler):
    """Sets an event when the bus logs a given message (the handler runs on the event loop's thread)."""

    def __init__(self, message: str) -> None:
        super().__init__(logging.INFO)
        self.message = message
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == self.message:
            self.seen.set()


@pytest.fixture
def reconnected() -> Iterator[asyncio.Event]:
    logger = logging.getLogger("iotmon.bus")
    watcher, level = LogWatcher("bus reconnected; subscriptions restored"), logger.level
    logger.addHandler(watcher)
    logger.setLevel(logging.INFO)
    try:
        yield watcher.seen
    finally:
        logger.removeHandler(watcher)
        logger.setLevel(level)


async def test_the_bus_reconnects_and_restores_its_subscriptions(reconnected: asyncio.Event) -> None:
    proxy = TcpProxy()
    await proxy.listen()
    cluster = RabbitMqCluster(url=proxy.url)
    try:
        group, broadcast, partitioned = Recorder(), Recorder(), Recorder()
        bus = cluster.member()
        bus.subscribe("device.#", group, group=cluster.group("group"))
        bus.subscribe("device.#", broadcast, group=None)
        bus.subscribe("device.#", partitioned, group=cluster.group("parts"), partitioned=True)
        await bus.start()
        await bus.publish("device.deleted", event("before"), partition_key="before")
        for recorder in (group, broadcast, partitioned):
            await recorder.wait_for(1)

        proxy.cut()
        await asyncio.wait_for(reconnected.wait(), WAIT)
        await bus.publish("device.deleted", event("after"), partition_key="after")

        for recorder in (group, broadcast, partitioned):
            await recorder.wait_until(lambda got: ("device.deleted", "after") in got)
            # "before" may come twice: its acknowledgement can die with the connection (at least once).
            assert list(dict.fromkeys(recorder.devices)) == ["before", "after"]
        assert broadcast.devices == ["before", "after"]  # its queue died with the connection
        assert proxy.connections == 2
    finally:
        await cluster.close()
        await proxy.close()


async def test_a_publish_during_the_outage_goes_out_once_reconnected() -> None:
    proxy = TcpProxy()
    await proxy.listen()
    cluster = RabbitMqCluster(url=proxy.url)
    try:
        received = Recorder()
        consumer = cluster.member()
        consumer.subscribe("device.#", received, group=cluster.group("outage"))
        await consumer.start()
        direct = RabbitMqBus(RabbitMqOptions(url=AMQP_URL, exchange=cluster.options.exchange))
        await direct.start()
        try:
            proxy.cut()
            # Published while the consumer's connection is down: the durable quorum queue keeps it.
            await direct.publish("device.deleted", event("while-down"))
        finally:
            await direct.close()
        await received.wait_for(1)
        assert received.devices == ["while-down"]
    finally:
        await cluster.close()
        await proxy.close()


async def test_start_waits_for_a_broker_that_comes_up_late() -> None:
    port = free_port()
    proxy = TcpProxy()
    cluster = RabbitMqCluster(url=f"amqp://guest:guest@127.0.0.1:{port}/", connect_timeout=10.0)
    try:
        bus = cluster.member()
        starting = asyncio.create_task(bus.start())
        await asyncio.sleep(1.0)
        assert not starting.done()
        await proxy.listen(port)
        await asyncio.wait_for(starting, WAIT)
        assert proxy.connections == 1
    finally:
        await cluster.close()
        await proxy.close()


async def test_start_gives_up_clearly_after_connect_timeout() -> None:
    url = f"amqp://guest:secret@127.0.0.1:{free_port()}/"
    bus = RabbitMqBus(RabbitMqOptions(url=url, connect_timeout=1.0))
    began = time.monotonic()

    with pytest.raises(BusUnavailable) as raised:
        await bus.start()

    assert 1 <= time.monotonic() - began < 5
    assert "127.0.0.1" in str(raised.value)
    assert "unreachable for 1 s" in str(raised.value)
    assert "secret" not in str(raised.value)


async def test_wrong_credentials_fail_at_once() -> None:
    bus = RabbitMqBus(RabbitMqOptions(url="amqp://guest:wrong@127.0.0.1:5672/", connect_timeout=10.0))
    began = time.monotonic()

    with pytest.raises(BusUnavailable, match="refused the credentials"):
        await bus.start()

    assert time.monotonic() - began < 2  # not retried for connect_timeout


async def test_start_fails_when_a_queue_exists_with_other_arguments(cluster: RabbitMqCluster) -> None:
    group = cluster.group("changed")
    before = cluster.member()
    before.subscribe("device.#", Recorder(), group=group)
    await before.start()
    await before.close()

    after = cluster.member(max_deliveries=cluster.options.max_deliveries + 1)
    after.subscribe("device.#", Recorder(), group=group)
    with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed, match="x-delivery-limit"):
        await after.start()
