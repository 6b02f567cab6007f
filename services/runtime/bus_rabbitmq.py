"""The EventBus on RabbitMQ (aio-pika): the production adapter; docs/bus.md has the topology and semantics.

- publish: persistent protobuf messages on one durable topic exchange, awaited until the broker confirms.
- group: replicas compete on a durable quorum queue per (group, pattern); a failing event is requeued
  and, after max_deliveries, dead-lettered to `iotmon.<group>.dead`.
- broadcast (group=None): an exclusive queue per process.
- partitioned: `partitions` quorum queues with a single active consumer each, fed by a headers exchange on
  the `x-partition` header; handlers of one partition run one event at a time, in order. The group's
  members spread the partitions between them by heartbeats and hashing (bus_membership.py): every member
  consumes every partition queue, and steps back in the queue's line on those it does not own.
Acknowledgement follows the handler's success, so an event whose consumer dies is redelivered.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustExchange,
    AbstractRobustQueue,
)
from aio_pika.exceptions import AMQPConnectionError, ChannelInvalidStateError, ProbableAuthenticationError
from google.protobuf.message import Message
from iot.common.v1 import common_pb2
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from services.runtime import bus_topology as topology
from services.runtime.bus import Handler, partition_of, topic_matches
from services.runtime.bus_membership import Heartbeat, Membership, Status, owned_by
from services.runtime.bus_topology import RabbitMqOptions
from services.runtime.context import traceparent_var
from services.runtime.otel import hooks as otel

log = logging.getLogger("iotmon.bus")

CONTENT_TYPE = "application/x-protobuf"
SYSTEM = "rabbitmq"  # messaging.system of the bus's spans
# When the event happened, in milliseconds (set while metrics are on): the consumer lag's start.
OCCURRED_MS_HEADER = "x-occurred-at-ms"
_LOST_CONNECTION = (AMQPConnectionError, ChannelInvalidStateError, ConnectionError, TimeoutError)


class BusUnavailable(RuntimeError):
    """The broker did not accept a connection within RabbitMqOptions.connect_timeout."""


@dataclass
class _Subscription:
    pattern: str
    handler: Handler
    group: str | None
    partitioned: bool


@dataclass
class _Slot:
    """This process's consumer on one partition queue.

    `lock` is held while an event is handled and settled, and while the consumer steps back, so that a
    step back (cancel, consume again) never lands between an event's handler and its acknowledgement.
    """

    partition: int
    queue: AbstractRobustQueue
    callback: Callable[[AbstractIncomingMessage], Coroutine[Any, Any, None]] | None = None
    tag: str | None = None  # None: not consuming (cancelled, or lost with the connection)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    step_back_wanted: bool = False
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class PartitionView:
    """What one member believes about its partitioned group (for tests and logs)."""

    members: frozenset[str]
    owned: frozenset[int]
    settled: bool  # no step back or claim pending: the broker has this member's line positions


@dataclass
class _PartitionedGroup:
    """One set of partition queues per group; every partitioned pattern of the group feeds it."""

    handlers: list[tuple[str, Handler]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    exchange: AbstractRobustExchange | None = None
    topic: AbstractRobustExchange | None = None
    slots: dict[int, _Slot] = field(default_factory=dict)
    membership: Membership | None = None
    members_exchange: AbstractRobustExchange | None = None
    owned: frozenset[int] = frozenset()
    rebalance_wanted: bool = False
    rebalancing: asyncio.Task[None] | None = None

    @property
    def settled(self) -> bool:
        tasks = [self.rebalancing, *(slot.task for slot in self.slots.values())]
        return all(task is None or task.done() for task in tasks)

    async def dispatch(self, routing_key: str, body: bytes) -> None:
        # Events of patterns this process no longer subscribes (bindings are durable) are acknowledged.
        for pattern, handler in tuple(self.handlers):
            if topic_matches(pattern, routing_key):
                await handler(routing_key, body)


class RabbitMqBus:
    """EventBus over RabbitMQ; subscribe before or after start()."""

    def __init__(self, options: RabbitMqOptions) -> None:
        if options.max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        self._options = options
        self._subscriptions: list[_Subscription] = []
        self._partitioned: dict[str, _PartitionedGroup] = {}
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractExchange | None = None
        self._declaring: set[asyncio.Task[None]] = set()
        self._handling: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._heartbeats: asyncio.Task[None] | None = None
        self._member = uuid.uuid4().hex
        self._closing = False

    @property
    def partitions(self) -> int:
        return self._options.partitions

    @property
    def member_id(self) -> str:
        """This bus's name in its partitioned groups' membership (random, one per process)."""
        return self._member

    def partition_view(self, group: str) -> PartitionView | None:
        state = self._partitioned.get(group)
        if state is None or state.membership is None:
            return None
        return PartitionView(state.membership.members, state.owned, state.settled)

    def subscribe(self, pattern: str, handler: Handler, *, group: str | None, partitioned: bool = False) -> None:
        if partitioned and group is None:
            raise ValueError("a partitioned subscription needs a group")
        subscription = _Subscription(pattern, handler, group, partitioned)
        if group is not None:
            topology.group_queue(
                group, pattern, self._options.queue_prefix
            )  # fail now on a pattern whose queue name is reserved
            if not partitioned and any(
                (s.pattern, s.group, s.partitioned) == (pattern, group, False) for s in self._subscriptions
            ):
                # Same queue, two consumers: each handler gets some of the events, not all of them.
                log.warning("pattern subscribed twice in one group", extra={"pattern": pattern, "group": group})
        self._subscriptions.append(subscription)
        if self._connection is not None:
            self._declare_soon(subscription)

    async def start(self) -> None:
        """Connect (retrying for connect_timeout), declare the exchange and consume what was subscribed."""
        if self._connection is not None:
            return
        self._connection = await self._connect()
        self._connection.close_callbacks.add(self._disconnected)
        self._connection.reconnect_callbacks.add(self._reconnected)
        channel = await self._connection.channel(publisher_confirms=True)
        exchange = self._options.exchange
        self._publisher = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        for subscription in self._subscriptions:
            self._declare_soon(subscription)
        await self.wait_subscribed()

    async def wait_subscribed(self) -> None:
        """Wait until every subscription so far consumes; raises the first declaration error."""
        while self._declaring:
            await asyncio.gather(*self._declaring)

    async def publish(self, routing_key: str, event: Message, *, partition_key: str | None = None) -> None:
        if self._publisher is None:
            raise RuntimeError("start() the bus before publishing")
        if self._declaring:
            # This process's own subscriptions made just before are bound before its next event goes out.
            await asyncio.gather(*self._declaring, return_exceptions=True)
        if otel.tracing is None:
            await self._send(self._message(event, partition_key), routing_key)
            return
        with otel.tracing.publish(routing_key, SYSTEM) as trace_headers:
            await self._send(self._message(event, partition_key, trace_headers), routing_key)

    async def _send(self, message: aio_pika.Message, routing_key: str) -> None:
        assert self._publisher is not None
        try:
            await self._publisher.publish(message, routing_key, mandatory=False)
        except _LOST_CONNECTION:
            if self._closing:
                raise
            await self._publish_again(message, routing_key)

    async def _publish_again(self, message: aio_pika.Message, routing_key: str) -> None:
        """The confirm was lost with the connection: publish again once the robust channel is back
        (subscribers may then see the event twice; its message_id is the event id)."""
        assert self._publisher is not None
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(3),
            wait=wait_exponential(multiplier=0.1, max=1),
            retry=retry_if_exception(lambda error: isinstance(error, _LOST_CONNECTION) and not self._closing),
            reraise=True,
        ):
            with attempt:
                await self._publisher.publish(message, routing_key, mandatory=False)

    async def close(self) -> None:
        """Stop taking events, let running handlers finish (drain_seconds), then close the connection."""
        if self._closing:
            return
        self._closing = True
        for task in (*self._declaring, *self._background):  # the heartbeats, step backs and claims too
            task.cancel()
        await self._leave_groups()
        running = set(self._handling)
        if running:
            _, late = await asyncio.wait(running, timeout=self._options.drain_seconds)
            for task in late:
                task.cancel()
            if late:
                log.warning("event handlers cancelled at close; the broker redelivers", extra={"count": len(late)})
                await asyncio.gather(*late, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()

    # Connection

    async def _connect(self) -> AbstractRobustConnection:
        options = self._options
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_delay(options.connect_timeout),
                wait=wait_exponential(multiplier=0.2, max=5),
                retry=retry_if_exception(_worth_retrying),
                before_sleep=lambda state: log.warning(
                    "RabbitMQ not reachable yet", extra={"url": _safe(options.url), "attempt": state.attempt_number}
                ),
                reraise=True,
            ):
                with attempt:
                    return await aio_pika.connect_robust(
                        options.url,
                        timeout=min(10.0, options.connect_timeout),
                        reconnect_interval=options.reconnect_interval,
                        client_properties={"connection_name": "iotmon-bus"},
                    )
        except ProbableAuthenticationError as error:
            raise BusUnavailable(f"RabbitMQ at {_safe(options.url)} refused the credentials: {error}") from error
        except OSError as error:  # TimeoutError and AMQPConnectionError included
            raise BusUnavailable(
                f"RabbitMQ at {_safe(options.url)} unreachable for {options.connect_timeout:g} s: {error!r}"
            ) from error
        raise AssertionError("unreachable: AsyncRetrying returns or raises")

    def _disconnected(self, _connection: object, error: BaseException | None = None) -> None:
        if not self._closing:
            log.warning("bus connection lost; reconnecting", extra={"error": repr(error)})

    def _reconnected(self, _connection: object) -> None:
        # aio-pika calls this once every channel, queue, binding and consumer is declared again.
        log.info("bus reconnected; subscriptions restored")
        # The restored consumers joined the end of every partition's line: claim ours back.
        for group, state in self._partitioned.items():
            if state.membership is not None:
                self._spawn(self._rejoin(group, state))

    # Declarations

    def _declare_soon(self, subscription: _Subscription) -> None:
        task = asyncio.create_task(self._declare(subscription))
        self._declaring.add(task)
        task.add_done_callback(functools.partial(self._declared, subscription))

    def _declared(self, subscription: _Subscription, task: asyncio.Task[None]) -> None:
        self._declaring.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error(
                "bus subscription failed",
                extra={"pattern": subscription.pattern, "group": subscription.group, "error": repr(error)},
            )

    async def _declare(self, subscription: _Subscription) -> None:
        if subscription.group is None:
            await self._declare_broadcast(subscription)
        elif subscription.partitioned:
            await self._declare_partitioned(subscription.group, subscription)
        else:
            await self._declare_group(subscription.group, subscription)

    async def _channel(self, prefetch: int) -> tuple[AbstractRobustChannel, AbstractRobustExchange]:
        """A consuming channel with its prefetch, and the topic exchange declared on it so that the
        channel's restoration after a reconnection re-declares everything its queues are bound to."""
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=prefetch)
        topic = await channel.declare_exchange(self._options.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        return channel, topic

    async def _declare_dead_letters(self, channel: AbstractRobustChannel, group: str) -> None:
        exchange = await channel.declare_exchange(
            topology.dead_exchange(self._options.exchange), aio_pika.ExchangeType.DIRECT, durable=True
        )
        queue = await channel.declare_queue(
            topology.dead_queue(group, self._options.queue_prefix),
            durable=True,
            arguments=topology.DEAD_QUEUE_ARGUMENTS,
        )
        await queue.bind(exchange, routing_key=group)

    async def _declare_group(self, group: str, subscription: _Subscription) -> None:
        channel, topic = await self._channel(self._options.prefetch)
        await self._declare_dead_letters(channel, group)
        queue = await channel.declare_queue(
            topology.group_queue(group, subscription.pattern, self._options.queue_prefix),
            durable=True,
            arguments=topology.shared_queue_arguments(group, self._options.exchange, self._options.max_deliveries),
        )
        await queue.bind(topic, routing_key=subscription.pattern)
        await queue.consume(self._consumer(queue.name, group, subscription.handler, broker_retries=True))

    async def _declare_broadcast(self, subscription: _Subscription) -> None:
        channel, topic = await self._channel(self._options.prefetch)
        # Named here rather than by the server so that a reconnection can declare the same queue again.
        name = f"{self._options.queue_prefix}.broadcast.{uuid.uuid4().hex}"
        queue = await channel.declare_queue(name, exclusive=True, auto_delete=True)
        await queue.bind(topic, routing_key=subscription.pattern)
        await queue.consume(self._consumer(name, None, subscription.handler, broker_retries=False))

    async def _declare_partitioned(self, group: str, subscription: _Subscription) -> None:
        state = self._partitioned.setdefault(group, _PartitionedGroup())
        state.handlers.append((subscription.pattern, subscription.handler))
        async with state.lock:
            if state.exchange is None:
                await self._declare_partitions(group, state)
        assert state.exchange is not None
        assert state.topic is not None
        await state.exchange.bind(state.topic, routing_key=subscription.pattern)

    async def _declare_partitions(self, group: str, state: _PartitionedGroup) -> None:
        # Prefetch 1 per consumer: a partition's events are handled one at a time, in order.
        channel, topic = await self._channel(1)
        exchange = await channel.declare_exchange(
            topology.partition_exchange(group, self._options.queue_prefix), aio_pika.ExchangeType.HEADERS, durable=True
        )
        await self._declare_dead_letters(channel, group)
        arguments = topology.partition_queue_arguments(group, self._options.exchange, self._options.max_deliveries)
        for partition in range(self._options.partitions):
            queue = await channel.declare_queue(
                topology.partition_queue(group, partition, self._options.queue_prefix),
                durable=True,
                arguments=arguments,
            )
            await queue.bind(exchange, routing_key="", arguments=topology.partition_binding(partition))
            slot = _Slot(partition, queue)
            slot.callback = self._consumer(queue.name, group, state.dispatch, broker_retries=False, slot=slot)
            slot.tag = await queue.consume(slot.callback)
            state.slots[partition] = slot
        state.exchange, state.topic = exchange, topic
        # Alone it owns every partition, and consumes them at once; the others' heartbeats share them out.
        state.owned = frozenset(state.slots)
        await self._join(group, state, channel)

    # Membership of partitioned groups (docs/bus.md, "Partitions")
    #
    # Every member consumes every partition queue; single active consumer makes the first consumer in a
    # queue's line the active one. A member steps back (cancels its consumer and consumes again, to the end
    # of the line) on the partitions it does not own, so each owner ends up first on its own. When a member
    # dies, RabbitMQ activates the next in line at once; the heartbeats then hand its partitions to their
    # new owners.

    async def _join(self, group: str, state: _PartitionedGroup, channel: AbstractRobustChannel) -> None:
        heartbeat = self._options.heartbeat_seconds
        members = await channel.declare_exchange(
            topology.members_exchange(self._options.exchange), aio_pika.ExchangeType.DIRECT, durable=True
        )
        queue = await channel.declare_queue(
            topology.members_queue(group, self._member, self._options.queue_prefix), exclusive=True, auto_delete=True
        )
        await queue.bind(members, routing_key=group)
        state.members_exchange = members
        state.membership = Membership(self._member, heartbeat)
        await queue.consume(functools.partial(self._heard, group, state), no_ack=True)
        # Our consumers are in every line now: the others step back on the partitions they do not own.
        await self._announce(group, state, Status.CLAIM)
        if self._heartbeats is None:
            self._heartbeats = self._spawn(self._beat())

    async def _announce(self, group: str, state: _PartitionedGroup, status: Status) -> None:
        """Publish a heartbeat; best effort (a lost one is made up by the next)."""
        assert state.members_exchange is not None
        heartbeat = self._options.heartbeat_seconds
        message = aio_pika.Message(Heartbeat(self._member, status).encode(), expiration=3 * heartbeat)
        try:
            await asyncio.wait_for(state.members_exchange.publish(message, routing_key=group), heartbeat)
        except (*_LOST_CONNECTION, aio_pika.exceptions.AMQPError) as error:
            log.debug("heartbeat not sent", extra={"group": group, "status": status.value, "error": repr(error)})

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            await asyncio.sleep(self._options.heartbeat_seconds)
            for group, state in tuple(self._partitioned.items()):
                if state.membership is None:
                    continue
                await self._announce(group, state, Status.ALIVE)
                if state.membership.expire(loop.time()):
                    self._rebalance_soon(group, state)

    async def _heard(self, group: str, state: _PartitionedGroup, message: AbstractIncomingMessage) -> None:
        beat = Heartbeat.decode(message.body)
        if beat is None or state.membership is None or self._closing or beat.member == self._member:
            return
        newcomer = beat.member not in state.membership.members
        changed = state.membership.heard(beat, asyncio.get_running_loop().time())
        if newcomer and beat.status is not Status.LEAVING:
            # Answer at once so that the newcomer counts us within a round trip, not a heartbeat.
            await self._announce(group, state, Status.ALIVE)
        if changed or beat.status is Status.CLAIM:
            self._rebalance_soon(group, state)

    async def _rejoin(self, group: str, state: _PartitionedGroup) -> None:
        for slot in state.slots.values():
            if slot.tag is None:
                self._step_back_soon(state, slot)
        await self._announce(group, state, Status.CLAIM)

    async def _leave_groups(self) -> None:
        """Say "leaving" so that the others take our partitions now rather than after the timeout."""
        leaving = [
            self._announce(group, state, Status.LEAVING)
            for group, state in self._partitioned.items()
            if state.membership is not None
        ]
        await asyncio.gather(*leaving)

    def _rebalance_soon(self, group: str, state: _PartitionedGroup) -> None:
        state.rebalance_wanted = True
        if state.rebalancing is None or state.rebalancing.done():
            state.rebalancing = self._spawn(self._rebalance(group, state))

    async def _rebalance(self, group: str, state: _PartitionedGroup) -> None:
        assert state.membership is not None
        while state.rebalance_wanted:
            state.rebalance_wanted = False
            members = state.membership.members
            owned = owned_by(self._member, members, self._options.partitions)
            gained = owned - state.owned
            state.owned = owned
            for partition, slot in state.slots.items():
                if partition not in owned:
                    self._step_back_soon(state, slot)
            log.info(
                "partitions assigned",
                extra={"group": group, "members": len(members), "owned": sorted(owned), "gained": sorted(gained)},
            )
            if gained:
                # Whoever is ahead of us in those lines steps back on hearing it.
                await self._announce(group, state, Status.CLAIM)

    def _step_back_soon(self, state: _PartitionedGroup, slot: _Slot) -> None:
        slot.step_back_wanted = True
        if slot.task is None or slot.task.done():
            slot.task = self._spawn(self._step_back(state, slot))

    async def _step_back(self, state: _PartitionedGroup, slot: _Slot) -> None:
        """Cancel and consume again (to the end of the line) once no event of this partition is in hand."""
        while slot.step_back_wanted:
            async with slot.lock:
                try:
                    await self._release(state, slot)
                    if slot.tag is None:
                        assert slot.callback is not None
                        slot.tag = await slot.queue.consume(slot.callback)
                except _LOST_CONNECTION as error:
                    # The consumer died with the connection; _rejoin consumes again after the reconnection.
                    slot.tag = None
                    log.info("partition step back interrupted", extra={"queue": slot.queue.name, "error": repr(error)})
                    return

    async def _release(self, state: _PartitionedGroup, slot: _Slot) -> None:
        """Cancel this member's consumer if a step back is wanted and the partition is not ours (under
        slot.lock: after a handler, before its acknowledgement, no further event can be on its way)."""
        if not slot.step_back_wanted:
            return
        slot.step_back_wanted = False
        if slot.partition in state.owned or slot.tag is None:
            return
        tag, slot.tag = slot.tag, None
        await slot.queue.cancel(tag)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return task

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("bus background task failed", extra={"error": repr(error)}, exc_info=error)

    # Consuming

    def _consumer(
        self, queue: str, group: str | None, handler: Handler, *, broker_retries: bool, slot: _Slot | None = None
    ) -> Callable[[AbstractIncomingMessage], Coroutine[Any, Any, None]]:
        """The callback of one queue's consumer; aio-pika runs each delivery in its own task.

        broker_retries: a failure is requeued and the quorum queue counts deliveries (shared queues, where
        another replica may succeed). Otherwise the handler is retried here, which keeps a partition's order
        whatever the broker does with requeued messages, and suits broadcast queues that count nothing.

        slot: a partition consumer; a step back asked for while the handler ran cancels the consumer before
        the acknowledgement, so that the next member in line starts after this event, not during it.
        """
        max_deliveries = self._options.max_deliveries

        async def handle(message: AbstractIncomingMessage) -> None:
            earlier = _delivery_count(message)
            attempts = 1 if broker_retries else max(1, max_deliveries - earlier)
            for attempt in range(attempts):
                error = await _run(handler, message)
                if error is None:
                    await before_settle()
                    await _settle(message.ack(), message)
                    return
                delivery = earlier + attempt + 1
                _log_failure(message, queue, group, delivery, error, dead=delivery >= max_deliveries)
            await before_settle()
            if broker_retries:
                await _settle(message.nack(requeue=True), message)
            else:
                await _settle(message.reject(requeue=False), message)

        async def before_settle() -> None:
            if slot is not None:
                state = self._partitioned[group] if group is not None else None
                if state is not None:
                    await _quietly(self._release(state, slot), message_queue=queue)

        async def handle_in_order(message: AbstractIncomingMessage) -> None:
            if slot is None:
                await handle(message)
            else:
                async with slot.lock:
                    await handle(message)

        async def on_message(message: AbstractIncomingMessage) -> None:
            if self._closing:
                return  # left unacknowledged: the broker takes it back when the connection closes
            task = asyncio.current_task()
            assert task is not None
            self._handling.add(task)
            try:
                if otel.tracing is None and otel.metrics is None:
                    await handle_in_order(message)
                else:
                    await _observed(message, handler, group, handle_in_order)
            finally:
                self._handling.discard(task)

        return on_message

    def _message(
        self, event: Message, partition_key: str | None, trace_headers: dict[str, str] | None = None
    ) -> aio_pika.Message:
        meta = _meta_of(event)
        traceparent = (meta.traceparent if meta is not None else "") or traceparent_var.get()
        # Events without a key go to partition 0 of partitioned subscribers (they must land somewhere).
        partition = partition_of(partition_key, self._options.partitions) if partition_key is not None else 0
        headers: dict[str, Any] = {topology.PARTITION_HEADER: partition}
        if traceparent:
            headers["traceparent"] = traceparent
        if trace_headers:  # traced: the producer span's context (traceparent, tracestate) instead
            headers.update(trace_headers)
        occurred = (
            meta.occurred_at.ToDatetime(tzinfo=UTC)
            if meta is not None and meta.HasField("occurred_at")
            else datetime.now(UTC)
        )
        if otel.metrics is not None:  # the AMQP timestamp counts whole seconds; consumer lag wants better
            headers[OCCURRED_MS_HEADER] = int(occurred.timestamp() * 1000)
        return aio_pika.Message(
            event.SerializeToString(),
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            type=event.DESCRIPTOR.full_name,
            message_id=(meta.event_id if meta is not None else "") or None,
            timestamp=occurred,
            headers=headers,
        )


def _meta_of(event: Message) -> common_pb2.EventMeta | None:
    meta_field = event.DESCRIPTOR.fields_by_name.get("meta")
    if meta_field is None or meta_field.message_type is not common_pb2.EventMeta.DESCRIPTOR:
        return None
    meta = getattr(event, "meta")  # noqa: B009 - the field is only known at run time
    assert isinstance(meta, common_pb2.EventMeta)
    return meta


def _delivery_count(message: AbstractIncomingMessage) -> int:
    """Earlier deliveries of this message, as a quorum queue counts them (absent on the first one)."""
    value = (message.headers or {}).get("x-delivery-count")
    return value if isinstance(value, int) else 0


async def _run(handler: Handler, message: AbstractIncomingMessage) -> Exception | None:
    traceparent = (message.headers or {}).get("traceparent")
    if otel.tracing is not None:  # the consumer span set the context its handler runs in
        traceparent = traceparent_var.get()
    token = traceparent_var.set(traceparent if isinstance(traceparent, str) else None)
    try:
        await handler(message.routing_key or "", message.body)
    except Exception as error:
        return error
    finally:
        traceparent_var.reset(token)
    return None


async def _observed(
    message: AbstractIncomingMessage,
    handler: Handler,
    group: str | None,
    handle: Callable[[AbstractIncomingMessage], Awaitable[None]],
) -> None:
    """One delivery with OpenTelemetry on: its consumer lag, and a consumer span that is a child of the
    producer span whose context came in the message's headers."""
    headers = message.headers or {}
    routing_key = message.routing_key or ""
    if otel.metrics is not None:
        occurred_ms = headers.get(OCCURRED_MS_HEADER)
        if isinstance(occurred_ms, int):
            occurred: float | None = occurred_ms / 1000
        else:
            occurred = message.timestamp.timestamp() if message.timestamp is not None else None
        if occurred is not None:
            otel.metrics.record_lag(time.time() - occurred, routing_key, group)
    if otel.tracing is None:
        await handle(message)
        return
    with otel.tracing.consume(routing_key, headers, handler, group, SYSTEM):
        await handle(message)


async def _quietly(release: Awaitable[None], *, message_queue: str) -> None:
    """A step back that fails with the connection must not keep the event from being settled."""
    try:
        await release
    except _LOST_CONNECTION as error:
        log.info("partition step back interrupted", extra={"queue": message_queue, "error": repr(error)})


async def _settle(outcome: Awaitable[None], message: AbstractIncomingMessage) -> None:
    try:
        await outcome
    except _LOST_CONNECTION as error:
        # The delivery died with its channel: the broker hands the event out again.
        log.info(
            "event not settled: connection lost",
            extra={"routingKey": message.routing_key, "messageId": message.message_id, "error": repr(error)},
        )


def _log_failure(
    message: AbstractIncomingMessage, queue: str, group: str | None, delivery: int, error: Exception, *, dead: bool
) -> None:
    log.log(
        logging.ERROR if dead else logging.WARNING,
        "event handler failed",
        extra={
            "routingKey": message.routing_key,
            "queue": queue,
            "group": group,
            "messageId": message.message_id,
            "deliveryCount": delivery,
            "deadLettered": dead and group is not None,
            "dropped": dead and group is None,
            "error": repr(error),
        },
        exc_info=error if dead else None,
    )


def _worth_retrying(error: BaseException) -> bool:
    """Connection refused or reset is worth waiting out; wrong credentials are not."""
    return isinstance(error, OSError) and not isinstance(error, ProbableAuthenticationError)


def _safe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()
