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

A handler that raises is retried (bounded) and then dead-lettered: acknowledgement follows success.
The in-process default (`iotmon up` without IOTMON_AMQP_URL) has one member per group and calls handlers
inline; `services/runtime/bus_rabbitmq.py` is the production adapter. Both pass tests/integration/bus.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from google.protobuf.message import Message
from iot.common.v1 import common_pb2

from services.kernel.ids import new_id
from services.runtime.context import traceparent_var

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
        """Register before start(); `pattern` is an AMQP topic pattern (`*` one word, `#` any)."""

    async def start(self) -> None:
        """Begin consuming what was subscribed."""

    async def close(self) -> None: ...


class InProcessBus:
    """Delivers each event to every subscriber whose pattern matches (`*` and `#` as in AMQP topics)."""

    def __init__(self, partitions: int = DEFAULT_PARTITIONS) -> None:
        self._subscribers: list[tuple[str, Handler]] = []
        self._partitions = partitions

    @property
    def partitions(self) -> int:
        return self._partitions

    def subscribe(self, pattern: str, handler: Handler, *, group: str | None = None, partitioned: bool = False) -> None:
        # One process: every group has one member, so group and partitions change nothing here.
        self._subscribers.append((pattern.replace("#", "*"), handler))

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()

    def has_subscribers(self, routing_key: str) -> bool:
        """Whether an event on this key would reach anyone: a publisher may skip building a costly event
        (telemetry.readings_stored carries every reading of a batch) that nobody in the process receives."""
        return any(fnmatch.fnmatchcase(routing_key, p) for p, _ in self._subscribers)

    async def publish(self, routing_key: str, event: Message, *, partition_key: str | None = None) -> None:
        payload = event.SerializeToString()
        targets = [h for p, h in self._subscribers if fnmatch.fnmatchcase(routing_key, p)]
        results = await asyncio.gather(*(h(routing_key, payload) for h in targets), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("event handler failed", extra={"routingKey": routing_key, "error": repr(result)})


def event_meta(organization_id: str, actor_user_id: str | None = None) -> common_pb2.EventMeta:
    meta = common_pb2.EventMeta(
        event_id=new_id("evt"),
        organization_id=organization_id,
        traceparent=traceparent_var.get() or "",
        actor_user_id=actor_user_id or "",
    )
    meta.occurred_at.FromDatetime(datetime.now(UTC))
    return meta
