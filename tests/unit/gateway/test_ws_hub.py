"""The hub's indexes and fan-out, and a connection's bounded outbox, with a recording `send`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from iot.alerting.v1 import alerting_pb2
from iot.alerting.v1 import events_pb2 as alerting_events
from iot.common.v1 import common_pb2
from iot.telemetry.v1 import events_pb2 as telemetry_events

from gateway.ws.connection import Connection, State
from gateway.ws.hub import Hub
from services.kernel.caller import Caller, Role
from services.runtime.bus import InProcessBus


class Socket:
    """A client's side of `send`: records what arrives; while `blocked`, a send waits (a full socket)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.open = asyncio.Event()
        self.open.set()

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.open.wait()
        self.sent.append(message)

    @property
    def texts(self) -> list[dict[str, Any]]:
        return [json.loads(m["text"]) for m in self.sent if m["type"] == "websocket.send"]


def connect(hub: Hub, organization_id: str = "org-1", limit: int = 8) -> tuple[Connection, Socket]:
    socket = Socket()
    connection = Connection(Caller("user-1", organization_id, Role.VIEWER), socket, limit, hub.remove)
    hub.add(connection)
    return connection, socket


def readings(organization_id: str, *device_ids: str) -> bytes:
    event = telemetry_events.ReadingsStored(meta=common_pb2.EventMeta(organization_id=organization_id))
    for device_id in device_ids:
        event.readings.add(device_id=device_id, values={"t": 1.0})
    return event.SerializeToString()


def alert(organization_id: str) -> bytes:
    return alerting_events.AlertResolved(
        meta=common_pb2.EventMeta(organization_id=organization_id),
        alert=alerting_pb2.Alert(alert_id="a-1", device_id="dev-1", status="resolved"),
    ).SerializeToString()


def attached_hub() -> Hub:
    hub = Hub()
    hub.attach(InProcessBus())
    return hub


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_readings_reach_the_watchers_of_their_device_in_their_organization() -> None:
    hub = attached_hub()
    one, one_socket = connect(hub)
    two, two_socket = connect(hub)
    other, other_socket = connect(hub, "org-2")
    hub.subscribe(one, ["dev-1", "dev-2"])
    hub.subscribe(two, ["dev-2"])
    hub.subscribe(other, ["dev-1"])  # the same id in another organization is another device

    await hub.on_event("telemetry.readings_stored", readings("org-1", "dev-1", "dev-2", "dev-3"))
    await settle()

    assert [m["deviceId"] for m in one_socket.texts] == ["dev-1", "dev-2"]
    assert [m["deviceId"] for m in two_socket.texts] == ["dev-2"]
    assert other_socket.texts == []
    # Encoded once: both watchers of dev-2 got the very same message object.
    assert one_socket.sent[1] is two_socket.sent[0]


async def test_alerts_reach_the_whole_organization_only() -> None:
    hub = attached_hub()
    _, watching = connect(hub)
    _, not_watching = connect(hub)
    _, elsewhere = connect(hub, "org-2")
    await hub.on_event("alerting.alert_resolved", alert("org-1"))
    await settle()
    assert [m["status"] for m in watching.texts] == ["resolved"]
    assert [m["status"] for m in not_watching.texts] == ["resolved"]
    assert elsewhere.texts == []


async def test_a_detached_hub_ignores_events() -> None:
    hub = attached_hub()
    hub.detach()
    connection, socket = connect(hub)
    hub.subscribe(connection, ["dev-1"])
    await hub.on_event("telemetry.readings_stored", readings("org-1", "dev-1"))
    await settle()
    assert socket.sent == []


async def test_remove_forgets_every_index_entry() -> None:
    hub = Hub()
    one, _ = connect(hub)
    two, _ = connect(hub)
    hub.subscribe(one, ["dev-1", "dev-2"])
    hub.subscribe(two, ["dev-1"])
    hub.remove(one)
    assert (hub.connection_count, hub.subscription_count) == (1, 1)
    hub.unsubscribe(two, ["dev-1", "never-subscribed"])
    hub.remove(two)
    hub.remove(two)  # twice is harmless
    assert (hub.connection_count, hub.subscription_count) == (0, 0)
    assert hub._devices == {}
    assert hub._organizations == {}


def text(n: int) -> dict[str, Any]:
    return {"type": "websocket.send", "text": json.dumps({"n": n})}


async def test_a_client_that_keeps_up_is_written_at_once_without_a_task_or_queue() -> None:
    hub = Hub()
    connection, socket = connect(hub, limit=100)
    tasks_before = len(asyncio.all_tasks())
    for i in range(50):
        connection.push(text(i))
    assert [m["n"] for m in socket.texts] == list(range(50))  # before the loop ran anything else
    assert connection.queued == 0
    assert len(asyncio.all_tasks()) == tasks_before


async def test_a_full_socket_queues_behind_the_message_in_flight_in_order() -> None:
    hub = Hub()
    connection, socket = connect(hub, limit=100)
    socket.open.clear()
    for i in range(6):
        connection.push(text(i))
    assert (connection.queued, socket.sent) == (5, [])  # message 0 waits inside send, 1-5 in the outbox
    socket.open.set()
    await settle()
    connection.push(text(6))  # drained: written at once again
    assert [m["n"] for m in socket.texts] == list(range(7))
    assert connection.queued == 0


async def test_an_overflowing_connection_is_closed_with_1013_and_removed_from_the_hub() -> None:
    hub = Hub()
    slow, slow_socket = connect(hub, limit=4)
    fast, fast_socket = connect(hub, limit=4)
    hub.subscribe(slow, ["dev-1"])
    hub.subscribe(fast, ["dev-1"])
    slow_socket.open.clear()  # its socket is full: the writer waits on the first message
    hub.attach(InProcessBus())
    for _ in range(3):
        for _ in range(3):
            await hub.on_event("telemetry.readings_stored", readings("org-1", "dev-1"))
        await settle()  # the fast one drains between bursts, the slow one cannot

    assert slow.state is State.CLOSING
    assert slow.queued == 0  # what was queued is dropped, not kept
    assert hub.watchers_of("org-1", "dev-1") == 1
    assert hub.connection_count == 1
    assert len(fast_socket.texts) == 9

    slow_socket.open.set()  # the client reads again: the message in flight, then the close
    await settle()
    assert slow_socket.sent[-1] == {"type": "websocket.close", "code": 1013, "reason": "client too slow"}
    assert len(slow_socket.texts) == 1
    assert slow.state is State.CLOSED


async def test_a_closed_connection_drops_its_queue_and_takes_nothing_more() -> None:
    hub = Hub()
    connection, socket = connect(hub)
    socket.open.clear()
    connection.push({"type": "websocket.send", "text": "{}"})
    connection.push({"type": "websocket.send", "text": "{}"})
    connection.closed()
    connection.push({"type": "websocket.send", "text": "{}"})
    socket.open.set()
    await settle()
    assert (connection.queued, socket.sent) == (0, [])
