"""The EventBus contract, run against the in-process bus and RabbitMQ (docs/bus.md states it).

A cluster hands out members (one per process); on the in-process bus every member is the same bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.integration.bus.support import (
    MAX_DELIVERIES,
    Cluster,
    InProcessCluster,
    RabbitMqCluster,
    Recorder,
    event,
    wait_total,
)
from tests.support.servers import require_server


@pytest.fixture(params=["inprocess", pytest.param("rabbitmq", marks=pytest.mark.needs_server)])
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    made: Cluster
    if request.param == "rabbitmq":
        require_server("RabbitMQ", "127.0.0.1", 5672)
        made = RabbitMqCluster()
    else:
        made = InProcessCluster()
    try:
        yield made
    finally:
        await made.close()


async def test_star_matches_one_word_and_hash_any_number(cluster: Cluster) -> None:
    bus = cluster.member()
    star, hash_, everything = Recorder(), Recorder(), Recorder()
    bus.subscribe("device.*", star, group=cluster.group("star"))
    bus.subscribe("device.#", hash_, group=cluster.group("hash"))
    bus.subscribe("#", everything, group=cluster.group("all"))
    await cluster.start(bus)

    for key in ("device.deleted", "device.status.changed", "device", "telemetry.stored", "device.last"):
        await bus.publish(key, event(key))

    # One publisher, one queue: order holds, so a wrongly routed key would show up before the last one.
    await star.wait_until(lambda got: ("device.last", "device.last") in got)
    assert star.devices == ["device.deleted", "device.last"]
    await hash_.wait_for(4)
    assert hash_.devices == ["device.deleted", "device.status.changed", "device", "device.last"]
    await everything.wait_for(5)
    assert len(everything.devices) == 5


async def test_every_group_gets_every_event(cluster: Cluster) -> None:
    bus = cluster.member()
    alerting, notification = Recorder(), Recorder()
    bus.subscribe("device.#", alerting, group=cluster.group("alerting"))
    bus.subscribe("device.#", notification, group=cluster.group("notification"))
    await cluster.start(bus)

    sent = [f"d{i}" for i in range(10)]
    for device in sent:
        await bus.publish("device.deleted", event(device))

    await alerting.wait_for(10)
    await notification.wait_for(10)
    assert sorted(alerting.devices) == sent
    assert sorted(notification.devices) == sent


async def test_members_of_one_group_share_its_events(cluster: Cluster) -> None:
    group = cluster.group("workers")
    first, second = Recorder.many(2)
    one, two, publisher = cluster.member(), cluster.member(), cluster.member()
    one.subscribe("device.#", first, group=group)
    two.subscribe("device.#", second, group=group)
    for bus in {id(b): b for b in (one, two, publisher)}.values():
        await cluster.start(bus)

    sent = [f"d{i:02}" for i in range(40)]
    for device in sent:
        await publisher.publish("device.deleted", event(device))

    await wait_total([first, second], len(sent))
    await asyncio.sleep(0.3)  # a duplicate would arrive by now
    assert sorted(first.devices + second.devices) == sent
    assert first.devices, "the first member got nothing"
    assert second.devices, "the second member got nothing"


async def test_broadcast_reaches_every_member(cluster: Cluster) -> None:
    hubs = [Recorder() for _ in range(3)]
    members = [cluster.member() for _ in hubs]
    for bus, hub in zip(members, hubs, strict=True):
        bus.subscribe("device.#", hub, group=None)
    for bus in {id(b): b for b in members}.values():
        await cluster.start(bus)

    await members[0].publish("device.deleted", event("d1"))
    await members[-1].publish("device.deleted", event("d2"))

    for hub in hubs:
        await hub.wait_for(2)
        assert sorted(hub.devices) == ["d1", "d2"]


@pytest.mark.parametrize("partitioned", [False, True])
async def test_a_failing_handler_is_retried_then_dead_lettered(cluster: Cluster, partitioned: bool) -> None:
    group = cluster.group("failing")
    calls: dict[str, int] = {}
    handled = Recorder()

    async def handler(routing_key: str, body: bytes) -> None:
        device = event("").FromString(body).device_id
        calls[device] = calls.get(device, 0) + 1
        if device == "poison":
            raise RuntimeError("cannot handle this one")
        await handled(routing_key, body)

    bus = cluster.member()
    bus.subscribe("device.#", handler, group=group, partitioned=partitioned)
    await cluster.start(bus)

    await bus.publish("device.deleted", event("poison"), partition_key="poison")
    await bus.publish("device.deleted", event("fine"), partition_key="fine")

    assert await cluster.dead_letters(group, expected=1) == [("device.deleted", "poison")]
    await handled.wait_for(1)
    assert handled.devices == ["fine"]
    assert calls == {"poison": MAX_DELIVERIES, "fine": 1}


async def test_partitioned_events_of_one_key_arrive_in_order_at_one_member(cluster: Cluster) -> None:
    group = cluster.group("alerting")
    recorders = Recorder.many(2)
    members = [cluster.member(), cluster.member()]
    for bus, recorder in zip(members, recorders, strict=True):
        bus.subscribe("device.#", recorder, group=group, partitioned=True)
    publisher = cluster.member()
    for bus in {id(b): b for b in [*members, publisher]}.values():
        await cluster.start(bus)
    await cluster.settle(group)  # members that are still sharing the partitions out may hand a key over

    keys = [f"dev-{k}" for k in range(6)]
    sent = [f"{key}:{seq:02}" for seq in range(15) for key in keys]
    for device in sent:
        await publisher.publish("device.status_changed", event(device), partition_key=device.split(":")[0])

    await wait_total(recorders, len(sent))
    await asyncio.sleep(0.3)  # a duplicate would arrive by now
    assert sum(len(r.received) for r in recorders) == len(sent)
    for key in keys:
        receivers = [r for r in recorders if any(d.startswith(f"{key}:") for d in r.devices)]
        assert len(receivers) == 1, f"{key} reached {len(receivers)} members"
        mine = [d for d in receivers[0].devices if d.startswith(f"{key}:")]
        assert mine == [f"{key}:{seq:02}" for seq in range(15)]


async def test_events_without_a_key_reach_partitioned_subscribers(cluster: Cluster) -> None:
    recorder = Recorder()
    bus = cluster.member()
    bus.subscribe("device.#", recorder, group=cluster.group("alerting"), partitioned=True)
    await cluster.start(bus)

    await bus.publish("device.deleted", event("no-key"))

    await recorder.wait_for(1)
    assert recorder.devices == ["no-key"]


async def test_subscribing_after_start_consumes_at_once(cluster: Cluster) -> None:
    bus = cluster.member()
    await cluster.start(bus)
    early, late, partitioned = Recorder(), Recorder(), Recorder()
    bus.subscribe("device.#", early, group=None)
    bus.subscribe("device.#", late, group=cluster.group("late"))
    bus.subscribe("device.#", partitioned, group=cluster.group("late-p"), partitioned=True)

    # No wait in between: the bus binds its own subscriptions before it publishes its next event.
    await bus.publish("device.deleted", event("d1"), partition_key="d1")

    for recorder in (early, late, partitioned):
        await recorder.wait_for(1)
        assert recorder.devices == ["d1"]


async def test_an_awaited_publish_is_delivered_or_stored(cluster: Cluster) -> None:
    """In process the handler has run when publish returns; RabbitMQ has confirmed (see the RabbitMQ tests
    for the message being in the queue the moment publish returns)."""
    recorder = Recorder()
    bus = cluster.member()
    bus.subscribe("device.#", recorder, group=cluster.group("confirm"))
    await cluster.start(bus)

    await bus.publish("device.deleted", event("d1"))

    if cluster.kind == "inprocess":
        assert recorder.devices == ["d1"]
    await recorder.wait_for(1)
    assert recorder.devices == ["d1"]
