"""Partitioned groups on RabbitMQ spread their partitions over the live replicas and move them when one
joins, leaves or dies (services/runtime/bus_membership.py assigns, bus_rabbitmq.py steps back)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from services.runtime.bus import partition_of
from tests.integration.bus.support import RabbitMqCluster, Recorder, TcpProxy, TrackingBus, event, wait_total
from tests.support.servers import require_server

pytestmark = pytest.mark.needs_server

PARTITIONS = 8
HEARTBEAT = 0.5
KEYS = [f"dev-{k}" for k in range(24)]
log = logging.getLogger(__name__)


@pytest.fixture
async def cluster() -> AsyncIterator[RabbitMqCluster]:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    made = RabbitMqCluster(partitions=PARTITIONS, heartbeat_seconds=HEARTBEAT)
    try:
        yield made
    finally:
        await made.close()


async def joined(cluster: RabbitMqCluster, group: str, recorder: Recorder, url: str | None = None) -> TrackingBus:
    bus = cluster.member(**({"url": url} if url else {}))
    bus.subscribe("device.#", recorder, group=group, partitioned=True)
    await bus.start()
    return bus


async def publish_round(publisher: TrackingBus, round_: int) -> list[str]:
    sent = [f"{key}:{round_}{seq}" for seq in range(3) for key in KEYS]
    for device in sent:
        await publisher.publish("device.status_changed", event(device), partition_key=device.split(":")[0])
    return sent


def partitions_of(recorder: Recorder, among: list[str]) -> set[int]:
    return {partition_of(d.split(":")[0], PARTITIONS) for d in recorder.devices if d in among}


def assert_each_key_in_order_at_one(recorders: list[Recorder], sent: list[str]) -> None:
    for key in KEYS:
        mine = [d for d in sent if d.startswith(f"{key}:")]
        holders = [[d for d in r.devices if d in mine] for r in recorders]
        assert [h for h in holders if h] == [mine], f"{key}: {holders}"


async def test_two_members_each_consume_their_own_fair_share(cluster: RabbitMqCluster) -> None:
    group = cluster.group("alerting")
    recorders = Recorder.many(2)
    first, second = [await joined(cluster, group, r) for r in recorders]
    took = await cluster.settle(group)
    log.info("two members balanced in %.3f s", took)

    owned = [first.view(group).owned, second.view(group).owned]
    assert owned[0] | owned[1] == set(range(PARTITIONS))
    assert len(owned[0]) == len(owned[1]) == PARTITIONS // 2
    sent = await publish_round(first, 0)
    await wait_total(recorders, len(sent))

    assert_each_key_in_order_at_one(recorders, sent)
    # Each handled exactly the partitions it owns: the owner, not the first to subscribe, is active.
    assert [partitions_of(r, sent) for r in recorders] == owned


async def test_when_one_closes_the_other_takes_every_partition_without_loss(cluster: RabbitMqCluster) -> None:
    group = cluster.group("alerting")
    recorders = Recorder.many(2)
    leaving, staying = [await joined(cluster, group, r) for r in recorders]
    await cluster.settle(group)
    publisher = cluster.member()
    await publisher.start()

    first = await publish_round(publisher, 0)
    closing = asyncio.create_task(leaving.close())  # while events are on their way
    second = await publish_round(publisher, 1)
    await closing
    took = await cluster.settle(group)
    log.info("survivor owns every partition %.3f s after close", took)
    third = await publish_round(publisher, 2)
    await wait_total(recorders, len(first) + len(second) + len(third))

    assert staying.view(group).owned == set(range(PARTITIONS))
    assert partitions_of(recorders[1], third) == set(range(PARTITIONS))
    everything = first + second + third
    for key in KEYS:
        mine = [d for d in everything if d.startswith(f"{key}:")]
        handled = [d for r in recorders for d in r.devices if d in mine]
        assert sorted(set(handled)) == sorted(mine), f"{key} lost events"
        stayed = [d for d in recorders[1].devices if d in mine]
        assert stayed == mine[len(mine) - len(stayed) :], f"{key}: the survivor took over in order"


async def test_a_third_member_takes_its_share(cluster: RabbitMqCluster) -> None:
    group = cluster.group("alerting")
    recorders = Recorder.many(3)
    members = [await joined(cluster, group, r) for r in recorders[:2]]
    await cluster.settle(group)
    members.append(await joined(cluster, group, recorders[2]))
    took = await cluster.settle(group)
    log.info("third member balanced in %.3f s", took)

    owned = [m.view(group).owned for m in members]
    assert sorted(len(o) for o in owned) == [2, 3, 3]
    assert set().union(*owned) == set(range(PARTITIONS))
    sent = await publish_round(members[0], 0)
    await wait_total(recorders, len(sent))
    assert_each_key_in_order_at_one(recorders, sent)
    assert [partitions_of(r, sent) for r in recorders] == owned


async def test_a_member_that_dies_silently_is_replaced(cluster: RabbitMqCluster) -> None:
    proxy = TcpProxy()
    await proxy.listen()
    try:
        group = cluster.group("alerting")
        recorders = Recorder.many(2)
        dying = await joined(cluster, group, recorders[0], url=proxy.url)
        survivor = await joined(cluster, group, recorders[1])
        await cluster.settle(group)
        assert dying.view(group).owned, "the dying member had partitions of its own"
        assert survivor.view(group).owned == set(range(PARTITIONS)) - dying.view(group).owned

        loop = asyncio.get_running_loop()
        await proxy.close()  # no "leaving": the connection is cut and cannot come back
        cut = loop.time()
        # RabbitMQ hands the dead member's partitions to the next in line at once...
        sent = await publish_round(survivor, 0)
        await wait_total(recorders, len(sent))
        handled_after = loop.time() - cut
        assert partitions_of(recorders[1], sent) == set(range(PARTITIONS))
        assert_each_key_in_order_at_one(recorders, sent)
        # ...and the heartbeats forget it after three silent ones.
        await cluster.settle(group, alive=[survivor])
        forgotten_after = loop.time() - cut
        log.info("dead member: events handled %.3f s, forgotten %.3f s after the cut", handled_after, forgotten_after)
        assert survivor.view(group).owned == set(range(PARTITIONS))
        assert forgotten_after >= 3 * HEARTBEAT - HEARTBEAT  # not before it fell silent for long enough
    finally:
        await proxy.close()
