"""Names and arguments of the RabbitMQ objects behind the event bus (docs/bus.md draws them).

Pure functions, so the topology can be read (and tested) apart from the connection handling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from services.runtime.settings import RuntimeSettings

QUEUE_PREFIX = "iotmon"
PARTITION_HEADER = "x-partition"

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_RESERVED_SUFFIX = re.compile(r"^(dead|partitions|p\d+)$")


@dataclass(frozen=True)
class RabbitMqOptions:
    url: str
    exchange: str = "iotmon.events"
    # Every queue's name starts with it: deployments (or test runs) sharing a broker keep apart.
    queue_prefix: str = QUEUE_PREFIX
    partitions: int = 16
    # Deliveries of one event to failing handlers before it is dead-lettered (>= 1).
    max_deliveries: int = 5
    # Unacknowledged events a group or broadcast consumer holds (partition consumers hold one).
    prefetch: int = 64
    # How long start() keeps retrying the first connection before it gives up.
    connect_timeout: float = 30.0
    # Pause between reconnection attempts once connected (aio-pika's robust connection).
    reconnect_interval: float = 1.0
    # How long close() lets running handlers finish before cancelling them (their events are redelivered).
    drain_seconds: float = 10.0
    # How often a member of a partitioned group says it is alive; silent for 3 of them, it is gone.
    heartbeat_seconds: float = 2.0

    @classmethod
    def from_settings(cls, settings: RuntimeSettings) -> RabbitMqOptions:
        if not settings.amqp_url:
            raise ValueError("IOTMON_AMQP_URL is not set")
        return cls(
            url=settings.amqp_url,
            exchange=settings.bus_exchange,
            queue_prefix=settings.bus_queue_prefix,
            partitions=settings.bus_partitions,
            max_deliveries=settings.bus_max_deliveries,
            drain_seconds=settings.grace_seconds,
            heartbeat_seconds=settings.bus_heartbeat_seconds,
        )


def dead_exchange(exchange: str) -> str:
    """The direct exchange dead letters go through; its routing key is the group."""
    return f"{exchange}.dead"


def dead_queue(group: str, prefix: str = QUEUE_PREFIX) -> str:
    return f"{prefix}.{group}.dead"


def group_queue(group: str, pattern: str, prefix: str = QUEUE_PREFIX) -> str:
    """`iotmon.<group>.<pattern>` with `#` spelled `all` and `*` spelled `any`: readable in the admin UI."""
    suffix = _UNSAFE.sub("_", pattern.replace("#", "all").replace("*", "any"))
    if _RESERVED_SUFFIX.match(suffix):
        raise ValueError(f"pattern {pattern!r} would name a queue the bus reserves ({group}.{suffix})")
    return f"{prefix}.{group}.{suffix}"


def partition_exchange(group: str, prefix: str = QUEUE_PREFIX) -> str:
    return f"{prefix}.{group}.partitions"


def partition_queue(group: str, partition: int, prefix: str = QUEUE_PREFIX) -> str:
    return f"{prefix}.{group}.p{partition}"


def members_exchange(exchange: str) -> str:
    """The direct exchange partitioned groups' heartbeats go through (routing key = the group).

    Apart from the events' exchange, so that a subscriber to `#` never sees a heartbeat."""
    return f"{exchange}.members"


def members_queue(group: str, member: str, prefix: str = QUEUE_PREFIX) -> str:
    """One member's exclusive queue for its group's heartbeats (named here so a reconnection reuses it)."""
    return f"{prefix}.members.{group}.{member}"


def partition_binding(partition: int) -> dict[str, Any]:
    # A plain "all" ignores headers named x-*: "all-with-x" (RabbitMQ 3.10+) matches on x-partition too.
    return {"x-match": "all-with-x", PARTITION_HEADER: partition}


def shared_queue_arguments(group: str, exchange: str, max_deliveries: int) -> dict[str, Any]:
    """A quorum queue that dead-letters (at least once) to the group's dead queue after max_deliveries.

    RabbitMQ delivers a message `x-delivery-limit + 1` times; a consumer's connection closing with the
    message unacknowledged counts as a delivery too (RabbitMQ 3.x).
    """
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": max_deliveries - 1,
        "x-dead-letter-exchange": dead_exchange(exchange),
        "x-dead-letter-routing-key": group,
        # At-least-once dead-lettering needs reject-publish; no length limit is set, so nothing is refused.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def partition_queue_arguments(group: str, exchange: str, max_deliveries: int) -> dict[str, Any]:
    return shared_queue_arguments(group, exchange, max_deliveries) | {"x-single-active-consumer": True}


DEAD_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}
