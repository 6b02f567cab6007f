"""The event bus port and its in-process default.

Events are protobuf messages published on routing keys `<service>.<event>` (docs/architecture.md).

Subscriptions name a *group*, as AMQP queues and Kafka consumer groups do:
- `group="alerting"`: the replicas of one service share the events (each event reaches one of them, and is
  redelivered to another when the handler fails or the replica dies) — a durable queue per group.
- `group=None`: every process gets every event (the WebSocket hub of each gateway replica, rule caches) —
  an exclusive queue that lives as long as the process.
- `partitioned=True` (with a group): events published with a `partition_key` are spread over
  `partitions` partitions by the key's hash; a partition is consumed by one replica at a time, in order,
  so per-device state (an alert's "held for 300 s") lives in one place and moves when its replica dies.
  Events published without a key go to partition 0.

A handler that raises is retried (bounded) and then dead-lettered: acknowledgement follows success.
The in-process default (`iotmon up` without IOTMON_AMQP_URL) is one process, calling handlers inline (its
group members are subscriptions of one pattern in one group); `services/runtime/bus_rabbitmq.py` is the
production adapter. Both pass tests/integration/bus; docs/bus.md has the topology and the operations side.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from google.protobuf.message import Message
from iot.common.v1 import common_pb2

from services.kernel.ids import new_id
from services.runtime.context import traceparent_var
from services.runtime.otel import hooks as otel

log = logging.getLogger("iotmon.bus")

Handler = Callable[[str, bytes], Awaitable[None]]


DEFAULT_PARTITIONS = 16


def partition_of(key: str, partitions: int) -> int:
    """The partition of a key: stable across processes and restarts (unlike hash())."""
    return zlib.crc32(key.encode()) % partitions


class EventPublisher(Protocol):
    async def publish(self, routing_key: str, event: Message, *, partition_key: str | None = None) -> None: ...


class EventBus(EventPublisher, Protocol):
    """The port every process gets (BuildContext.bus); see the module docstring for the semantics."""

    @property
    def partitions(self) -> int: ...

    def subscribe(self, pattern: str, handler: Handler, *, group: str | None, partitioned: bool = False) -> None:
        """`pattern` is an AMQP topic pattern (`*` one word, `#` any). Usually before start(); afterwards the
        subscription is declared at once. Subscribe a pattern once per group (docs/bus.md)."""

    async def start(self) -> None:
        """Begin consuming what was subscribed."""

    async def wait_subscribed(self) -> None:
        """Return once every subscription made so far is bound: events published from now on reach it."""

    async def close(self) -> None: ...


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: words split on dots, `*` is exactly one word, `#` is zero or more words."""
    return _words_match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


def _words_match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_words_match(rest, words[skip:]) for skip in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and _words_match(rest, words[1:])


@dataclass(frozen=True)
class DeadLetter:
    """An event a group gave up on after its retries: kept for inspection (RabbitMQ: iotmon.<group>.dead)."""

    group: str | None
    routing_key: str
    body: bytes
    error: str


@dataclass
class _Subscription:
    pattern: str
    handler: Handler
    group: str | None
    partitioned: bool

    @property
    def members_key(self) -> tuple[str, str, bool] | None:
        """Subscriptions with the same key are members of one group on one queue: they share its events."""
        return None if self.group is None else (self.group, self.pattern, self.partitioned)


_Route = tuple[list[_Subscription], list[tuple[tuple[str, str, bool], list[_Subscription]]]]

DEFAULT_ATTEMPTS = 3
SYSTEM = "iotmon-inprocess"  # messaging.system of the in-process bus's spans
DEAD_LETTERS_KEPT = 1000


class InProcessBus:
    """Delivers each event inline to the subscribers whose pattern matches (`*` and `#` as in AMQP topics).

    One process, so groups only matter when one subscribes the same pattern twice in a group: those members
    share the events (round robin; partitioned: by partition), as replicas on one RabbitMQ queue would. A
    failing handler is called up to `max_attempts` times, then the event lands in `dead_letters`.
    """

    def __init__(self, partitions: int = DEFAULT_PARTITIONS, max_attempts: int = DEFAULT_ATTEMPTS) -> None:
        self._subscriptions: list[_Subscription] = []
        self._partitions = partitions
        self._max_attempts = max(1, max_attempts)
        self._turns: dict[tuple[str, str, bool], int] = {}
        self._dead_letters: deque[DeadLetter] = deque(maxlen=DEAD_LETTERS_KEPT)
        # routing key → (broadcast subscriptions, groups of members): matched once per key, not per publish.
        self._routes: dict[str, _Route] = {}

    @property
    def partitions(self) -> int:
        return self._partitions

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """The latest events whose handler failed every attempt (oldest first, at most 1000)."""
        return list(self._dead_letters)

    def subscribe(self, pattern: str, handler: Handler, *, group: str | None = None, partitioned: bool = False) -> None:
        self._subscriptions.append(_Subscription(pattern, handler, group, partitioned and group is not None))
        self._routes.clear()

    async def start(self) -> None:
        return None

    async def wait_subscribed(self) -> None:
        return None

    async def close(self) -> None:
        self._subscriptions.clear()
        self._routes.clear()

    def has_subscribers(self, routing_key: str) -> bool:
        """Whether an event on this key would reach anyone: a publisher may skip building a costly event
        (telemetry.readings_stored carries every reading of a batch) that nobody in the process receives."""
        broadcast, groups = self._route(routing_key)
        return bool(broadcast or groups)

    def spreads_partitions(self, routing_key: str) -> bool:
        """Whether an event's partition key decides who receives it: only when a partitioned group has several
        members. Otherwise a publisher may put what belongs to every partition in one event."""
        _, groups = self._route(routing_key)
        return any(key[2] and len(members) > 1 for key, members in groups)

    async def publish(self, routing_key: str, event: Message, *, partition_key: str | None = None) -> None:
        payload = event.SerializeToString()
        partition = partition_of(partition_key, self._partitions) if partition_key is not None else 0
        targets = self._targets(routing_key, partition)
        if otel.tracing is not None or otel.metrics is not None:
            await self._publish_observed(routing_key, event, payload, targets)
            return
        await asyncio.gather(*(self._deliver(s, routing_key, payload) for s in targets))

    async def _publish_observed(
        self, routing_key: str, event: Message, payload: bytes, targets: list[_Subscription]
    ) -> None:
        """publish with OpenTelemetry on: a producer span whose context travels to each delivery beside the
        payload (the envelope a broker's message headers would be), and the event's age for consumer lag."""
        headers: dict[str, str] = {}
        if otel.tracing is not None:
            with otel.tracing.publish(routing_key, SYSTEM) as headers:
                pass  # handed over: the deliveries below are the consumers' work, not the publish
        occurred = occurred_at(event) if otel.metrics is not None else None
        await asyncio.gather(*(self._deliver_observed(s, routing_key, payload, headers, occurred) for s in targets))

    async def _deliver_observed(
        self,
        subscription: _Subscription,
        routing_key: str,
        payload: bytes,
        headers: dict[str, str],
        occurred: float | None,
    ) -> None:
        if occurred is not None and otel.metrics is not None:
            otel.metrics.record_lag(time.time() - occurred, routing_key, subscription.group)
        if otel.tracing is None:
            await self._deliver(subscription, routing_key, payload)
            return
        with otel.tracing.consume(routing_key, headers, subscription.handler, subscription.group, SYSTEM):
            await self._deliver(subscription, routing_key, payload)

    def _route(self, routing_key: str) -> _Route:
        route = self._routes.get(routing_key)
        if route is None:
            broadcast: list[_Subscription] = []
            members: dict[tuple[str, str, bool], list[_Subscription]] = {}
            for subscription in self._subscriptions:
                if not topic_matches(subscription.pattern, routing_key):
                    continue
                key = subscription.members_key
                if key is None:
                    broadcast.append(subscription)
                else:
                    members.setdefault(key, []).append(subscription)
            route = self._routes[routing_key] = (broadcast, list(members.items()))
        return route

    def _targets(self, routing_key: str, partition: int) -> list[_Subscription]:
        """Every broadcast subscriber, and one member of each group (partitioned: the partition's owner)."""
        broadcast, groups = self._route(routing_key)
        targets = list(broadcast)
        for key, group in groups:
            if key[2]:
                targets.append(group[partition % len(group)])
            else:
                turn = self._turns.get(key, 0)
                self._turns[key] = turn + 1
                targets.append(group[turn % len(group)])
        return targets

    async def _deliver(self, subscription: _Subscription, routing_key: str, payload: bytes) -> None:
        for attempt in range(1, self._max_attempts + 1):
            try:
                await subscription.handler(routing_key, payload)
                return
            except Exception as error:
                last = attempt == self._max_attempts
                log.log(
                    logging.ERROR if last else logging.WARNING,
                    "event handler failed",
                    extra={
                        "routingKey": routing_key,
                        "group": subscription.group,
                        "deliveryCount": attempt,
                        "deadLettered": last,
                        "error": repr(error),
                    },
                )
                if last:
                    self._dead_letters.append(DeadLetter(subscription.group, routing_key, payload, repr(error)))


def occurred_at(event: Message) -> float | None:
    """When the event happened (its EventMeta.occurred_at, POSIX seconds), for events that carry a meta."""
    meta_field = event.DESCRIPTOR.fields_by_name.get("meta")
    if meta_field is None or meta_field.message_type is not common_pb2.EventMeta.DESCRIPTOR:
        return None
    meta = getattr(event, "meta")  # noqa: B009 - the field is only known at run time
    if not meta.HasField("occurred_at"):
        return None
    stamp = meta.occurred_at
    return float(stamp.seconds + stamp.nanos / 1e9)


def event_meta(organization_id: str, actor_user_id: str | None = None) -> common_pb2.EventMeta:
    meta = common_pb2.EventMeta(
        event_id=new_id("evt"),
        organization_id=organization_id,
        traceparent=traceparent_var.get() or "",
        actor_user_id=actor_user_id or "",
    )
    meta.occurred_at.FromDatetime(datetime.now(UTC))
    return meta
