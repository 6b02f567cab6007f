"""What the bus contract tests share: a cluster of bus members per adapter, recorders, a TCP proxy.

A *member* is one process's bus. On RabbitMQ each member is its own RabbitMqBus (its own connection); the
in-process bus is one process, so all members are the same InProcessBus. Every RabbitMQ cluster uses its
own exchange and group names and deletes what it declared when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aio_pika
from google.protobuf.message import Message
from iot.device.v1 import events_pb2

from services.runtime import bus_topology as topology
from services.runtime.bus import EventBus, Handler, InProcessBus, event_meta
from services.runtime.bus_rabbitmq import PartitionView, RabbitMqBus
from services.runtime.bus_topology import RabbitMqOptions

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
MAX_DELIVERIES = 3
PARTITIONS = 4
WAIT = 15.0


def event(device_id: str) -> events_pb2.DeviceDeleted:
    return events_pb2.DeviceDeleted(meta=event_meta("org-test"), device_id=device_id)


def device_of(body: bytes) -> str:
    return events_pb2.DeviceDeleted.FromString(body).device_id


@dataclass
class Recorder:
    """A handler that records (routing key, device id) and lets a test wait for what it expects.

    Recorders made together by `Recorder.many` share one condition, so a test can wait for their total."""

    received: list[tuple[str, str]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @classmethod
    def many(cls, count: int) -> list[Recorder]:
        changed = asyncio.Condition()
        return [cls(changed=changed) for _ in range(count)]

    async def __call__(self, routing_key: str, body: bytes) -> None:
        async with self.changed:
            self.received.append((routing_key, device_of(body)))
            self.changed.notify_all()

    @property
    def devices(self) -> list[str]:
        return [device for _, device in self.received]

    async def wait_until(self, done: Callable[[list[tuple[str, str]]], bool]) -> None:
        async with asyncio.timeout(WAIT), self.changed:
            await self.changed.wait_for(lambda: done(self.received))

    async def wait_for(self, count: int) -> None:
        await self.wait_until(lambda received: len(received) >= count)


async def wait_total(recorders: list[Recorder], count: int) -> None:
    """Wait until recorders made by Recorder.many received `count` events between them."""
    changed = recorders[0].changed
    async with asyncio.timeout(WAIT), changed:
        await changed.wait_for(lambda: sum(len(r.received) for r in recorders) >= count)


class Cluster(Protocol):
    kind: str

    def group(self, name: str) -> str: ...

    def member(self) -> EventBus: ...

    async def start(self, bus: EventBus) -> None: ...

    async def settle(self, group: str) -> float:
        """Wait until the members of a partitioned group share its partitions for good; returns seconds."""
        ...

    async def dead_letters(self, group: str, expected: int) -> list[tuple[str, str]]:
        """(routing key, device id) of the group's dead letters once `expected` are there (or time ran out)."""
        ...

    async def close(self) -> None: ...


class InProcessCluster:
    kind = "inprocess"

    def __init__(self) -> None:
        self.bus = InProcessBus(PARTITIONS, MAX_DELIVERIES)

    def group(self, name: str) -> str:
        return name

    def member(self) -> EventBus:
        return self.bus

    async def start(self, bus: EventBus) -> None:
        await bus.start()

    async def settle(self, group: str) -> float:
        return 0.0  # the in-process bus shares partitions as it subscribes

    async def dead_letters(self, group: str, expected: int) -> list[tuple[str, str]]:
        return [(d.routing_key, device_of(d.body)) for d in self.bus.dead_letters if d.group == group]

    async def close(self) -> None:
        await self.bus.close()


class TrackingBus:
    """A RabbitMqBus that remembers its groups and patterns, so the test can delete their queues."""

    def __init__(self, bus: RabbitMqBus, cluster: RabbitMqCluster) -> None:
        self.inner = bus
        self._cluster = cluster
        self.partitioned: set[str] = set()
        self.closed = False

    @property
    def partitions(self) -> int:
        return self.inner.partitions

    def subscribe(self, pattern: str, handler: Handler, *, group: str | None, partitioned: bool = False) -> None:
        if group is not None:
            self._cluster.declared.add((group, pattern))
        if partitioned and group is not None:
            self.partitioned.add(group)
        self.inner.subscribe(pattern, handler, group=group, partitioned=partitioned)

    async def publish(self, routing_key: str, event: Message, *, partition_key: str | None = None) -> None:
        await self.inner.publish(routing_key, event, partition_key=partition_key)

    async def start(self) -> None:
        await self.inner.start()

    async def wait_subscribed(self) -> None:
        await self.inner.wait_subscribed()

    async def close(self) -> None:
        self.closed = True
        await self.inner.close()

    def view(self, group: str) -> PartitionView:
        view = self.inner.partition_view(group)
        assert view is not None, f"not consuming {group} partitioned"
        return view


class RabbitMqCluster:
    kind = "rabbitmq"

    def __init__(self, url: str = AMQP_URL, **overrides: Any) -> None:
        self.options = RabbitMqOptions(
            url=url,
            exchange=f"test.{uuid.uuid4().hex[:10]}",
            partitions=PARTITIONS,
            max_deliveries=MAX_DELIVERIES,
            connect_timeout=5.0,
            reconnect_interval=0.2,
            drain_seconds=0.3,
        )
        self.options = dataclasses.replace(self.options, **overrides)
        self.members: list[TrackingBus] = []
        self.declared: set[tuple[str, str]] = set()

    def group(self, name: str) -> str:
        return f"{name}-{uuid.uuid4().hex[:8]}"

    def member(self, **overrides: Any) -> TrackingBus:
        """A new process's bus; overrides change its options (a deployment with other settings)."""
        bus = TrackingBus(RabbitMqBus(dataclasses.replace(self.options, **overrides)), self)
        self.members.append(bus)
        return bus

    async def start(self, bus: EventBus) -> None:
        await bus.start()

    def balanced(self, group: str, alive: list[TrackingBus] | None = None) -> bool:
        """Whether the running members of a partitioned group (or `alive`, when a test killed one without
        telling) all count each other and have nothing left to step back on."""
        members = alive or [b for b in self.members if group in b.partitioned and not b.closed]
        ids = {bus.inner.member_id for bus in members}
        return all(bus.view(group).members == ids and bus.view(group).settled for bus in members)

    async def settle(self, group: str, alive: list[TrackingBus] | None = None, steady: float = 0.3) -> float:
        """Wait until the partitioned group is balanced and stays so for `steady` seconds (a claim may still
        be on its way when every member looks settled); returns the seconds it took to get balanced."""
        loop = asyncio.get_running_loop()
        began, since = loop.time(), None
        async with asyncio.timeout(WAIT):
            while since is None or loop.time() - since < steady:
                if not self.balanced(group, alive):
                    since = None
                elif since is None:
                    since = loop.time()
                await asyncio.sleep(0.01)
        assert since is not None
        return since - began

    async def dead_letters(self, group: str, expected: int) -> list[tuple[str, str]]:
        letters: list[tuple[str, str]] = []
        async with await aio_pika.connect(AMQP_URL) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(topology.dead_queue(group), passive=True)
            deadline = asyncio.get_running_loop().time() + WAIT
            while len(letters) < expected and asyncio.get_running_loop().time() < deadline:
                message = await queue.get(fail=False, no_ack=True)
                if message is None:
                    await asyncio.sleep(0.05)
                    continue
                death = (message.headers or {}).get("x-death")
                assert isinstance(death, list)
                assert death
                keys = death[0]["routing-keys"]  # the routing key the event was published with
                letters.append((keys[0], device_of(message.body)))
        return letters

    async def close(self) -> None:
        for bus in self.members:
            await bus.close()
        # Deleting needs no consumer left, so it comes after every member closed.
        groups = {group for group, _ in self.declared}
        async with await aio_pika.connect(AMQP_URL) as connection:
            channel = await connection.channel()
            for group, pattern in self.declared:
                await channel.queue_delete(topology.group_queue(group, pattern))
            for group in groups:
                for partition in range(self.options.partitions):
                    await channel.queue_delete(topology.partition_queue(group, partition))
                await channel.queue_delete(topology.dead_queue(group))
                await channel.exchange_delete(topology.partition_exchange(group))
            await channel.exchange_delete(self.options.exchange)
            await channel.exchange_delete(topology.dead_exchange(self.options.exchange))
            await channel.exchange_delete(topology.members_exchange(self.options.exchange))


class TcpProxy:
    """A local TCP proxy in front of RabbitMQ: cutting its connections is a network failure to the bus."""

    def __init__(self, target_port: int = 5672) -> None:
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections = 0

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    async def listen(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        """Abort every open connection (the proxy keeps listening, so clients can reconnect)."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        self._writers |= {client_writer, server_writer}
        await asyncio.gather(
            _pipe(client_reader, server_writer), _pipe(server_reader, client_writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.transport.abort()
