"""/ws end to end: uvicorn on a real port, a real gRPC device service (a fake) that answers BatchGetDevices,
an in-process bus to publish on, and real clients (the `websockets` library, and a raw socket that reads only
when told to). The helpers here are shared with test_ws_slow_clients.py."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.message import Message
from iot.alerting.v1 import alerting_pb2
from iot.alerting.v1 import events_pb2 as alerting_events
from iot.device.v1 import device_pb2
from iot.device.v1 import events_pb2 as device_events
from iot.telemetry.v1 import events_pb2 as telemetry_events
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.ws.hub import Hub
from services.runtime.bus import EventBus, InProcessBus, event_meta
from services.runtime.context import current_caller
from services.runtime.server import RunningServer, start_grpc_server
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings
from tests.integration.gateway.conftest import registrations
from tests.integration.gateway.fakes import FakeDevices, Recorder
from tests.support.servers import free_port
from tests.support.tokens import TokenMinter
from tests.support.uvicorn import serving_app

RECEIVE_TIMEOUT = 5.0


class DevicesWithBatchGet(FakeDevices):
    """BatchGetDevices as the device service answers it: every organization for a service, else the caller's."""

    async def BatchGetDevices(self, request: device_pb2.BatchGetDevicesRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        caller = current_caller()
        found = [self.devices[i] for i in request.device_ids if i in self.devices]
        return device_pb2.BatchGetDevicesResponse(devices=[d for d in found if caller.can_see(d.organization_id)])


@dataclass
class HubUnderTest:
    port: int
    bus: EventBus
    hub: Hub
    devices: DevicesWithBatchGet
    recorder: Recorder
    minter: TokenMinter
    device_server: RunningServer

    def url(self, token: str | None = None, org: str = "org-1") -> str:
        token = self.minter.mint(org=org) if token is None else token
        return f"ws://127.0.0.1:{self.port}/ws?token={token}" if token else f"ws://127.0.0.1:{self.port}/ws"

    async def publish(self, routing_key: str, event: Message) -> None:
        await self.bus.publish(routing_key, event)


@asynccontextmanager
async def hub_under_test(
    minter: TokenMinter, *, send_queue_size: int = 256, bus: EventBus | None = None, **uvicorn_options: Any
) -> AsyncIterator[HubUnderTest]:
    recorder = Recorder()
    devices = DevicesWithBatchGet(recorder)
    server = await start_grpc_server(
        registrations(recorder, devices), host="127.0.0.1", port=0, verifier=minter.verifier()
    )
    bus = bus or InProcessBus()
    app = create_app(
        RuntimeSettings(service_token_file=minter.service_token_file("gateway")),
        verifier=minter.verifier(),
        addresses=dict.fromkeys(SERVICE_NAMES, server.address),
        gateway_settings=GatewaySettings(upstream_timeout_seconds=2.0, ws_send_queue_size=send_queue_size),
        bus=bus,
    )
    port = free_port()
    try:
        async with serving_app(app, port=port, lifespan="on", **uvicorn_options):
            yield HubUnderTest(port, bus, app.state.realtime.hub, devices, recorder, minter, server)
    finally:
        await server.stop(0)


def client(url: str, **options: Any) -> connect:
    return connect(url, proxy=None, open_timeout=RECEIVE_TIMEOUT, **options)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT)
    document: dict[str, Any] = json.loads(message)
    return document


async def send(ws: ClientConnection, document: dict[str, Any]) -> dict[str, Any]:
    """Send an action and return the next message."""
    await ws.send(json.dumps(document))
    return await receive(ws)


async def wait_until(condition: Any, seconds: float = RECEIVE_TIMEOUT) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class RawClient:
    """A WebSocket client over a socket with a tiny receive buffer that reads only when asked: a client
    that stopped reading, or a dead peer that never answers pings."""

    def __init__(self, url: str):
        self._protocol = ClientProtocol(parse_uri(url))
        self._url = url
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        uri = parse_uri(self._url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (uri.host, uri.port))
        # A small stream limit too: asyncio stops reading the socket once this much is buffered.
        self._reader, self._writer = await asyncio.open_connection(sock=sock, limit=4096)
        self._protocol.send_request(self._protocol.connect())
        self._flush()
        while True:
            events = await self._read_events()
            if any(isinstance(e, Response) for e in events):
                return

    def send_text(self, text: str) -> None:
        self._protocol.send_text(text.encode())
        self._flush()

    async def read_until_closed(self, seconds: float = RECEIVE_TIMEOUT) -> tuple[list[str], Close | None]:
        """Everything the server sent until its close frame (or EOF): the texts, and the close."""
        texts: list[str] = []
        async with asyncio.timeout(seconds):
            while True:
                events = await self._read_events()
                if not events and self._protocol.close_rcvd is None and self._reader_at_eof():
                    return texts, None
                for event in events:
                    if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                        texts.append(bytes(event.data).decode())
                if self._protocol.close_rcvd is not None:
                    return texts, self._protocol.close_rcvd

    async def at_eof(self, seconds: float = RECEIVE_TIMEOUT) -> bool:
        """Read without ever answering pings (a dead peer) until the server drops the connection."""
        assert self._reader is not None
        async with asyncio.timeout(seconds):
            while await self._reader.read(65536):
                pass
        return True

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    async def _read_events(self) -> list[Any]:
        assert self._reader is not None
        data = await self._reader.read(65536)
        if data:
            self._protocol.receive_data(data)
        else:
            self._protocol.receive_eof()
        return list(self._protocol.events_received())

    def _reader_at_eof(self) -> bool:
        return self._reader is not None and self._reader.at_eof()

    def _flush(self) -> None:
        assert self._writer is not None
        for chunk in self._protocol.data_to_send():
            self._writer.write(chunk)


# -- events as the services publish them


def readings_stored(organization_id: str, *readings: tuple[str, dict[str, float]]) -> telemetry_events.ReadingsStored:
    event = telemetry_events.ReadingsStored(meta=event_meta(organization_id))
    for device_id, values in readings:
        reading = event.readings.add(device_id=device_id, values=values)
        reading.timestamp.FromDatetime(datetime(2025, 11, 15, 10, 0, 0, tzinfo=UTC))
    return event


def status_changed(organization_id: str, device_id: str, status: str, previous: str) -> Message:
    return device_events.DeviceStatusChanged(
        meta=event_meta(organization_id), device_id=device_id, status=status, previous_status=previous
    )


def alert_triggered(organization_id: str, device_id: str, alert_id: str = "alert-123") -> Message:
    alert = alerting_pb2.Alert(
        alert_id=alert_id,
        rule_id="rule-temp-high",
        rule_name="High Temperature Alert",
        device_id=device_id,
        device_name="Office-Temp-Sensor-1",
        severity="warning",
        status="triggered",
        condition="temperature > 40",
        actual_value=42.5,
        threshold=40,
        organization_id=organization_id,
    )
    alert.triggered_at.FromDatetime(datetime(2025, 11, 15, 10, 0, 0, tzinfo=UTC))
    return alerting_events.AlertTriggered(meta=event_meta(organization_id), alert=alert)


# -- the tests


@pytest.fixture
async def env(token_minter: TokenMinter) -> AsyncIterator[HubUnderTest]:
    async with hub_under_test(token_minter) as under_test:
        under_test.devices.add("dev-1", "org-1")
        under_test.devices.add("dev-2", "org-1")
        under_test.devices.add("dev-9", "org-2")
        yield under_test


async def close_of(url: str, **options: Any) -> tuple[int, str]:
    async with client(url, **options) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_a_missing_or_bad_token_is_closed_with_4401(env: HubUnderTest) -> None:
    missing = await close_of(env.url(token=""))
    garbage = await close_of(env.url(token="not-a-jwt"))
    expired = await close_of(env.url(token=env.minter.mint(ttl=-120)))
    service = await close_of(env.url(token=env.minter.mint_service("intruder")))

    assert missing[0] == 4401
    assert "token" in missing[1]
    assert garbage == (4401, "the token is not a well-formed JWT")
    assert expired == (4401, "the token has expired")
    assert service[0] == 4403
    assert env.hub.connection_count == 0


async def test_the_token_may_come_in_a_header_or_the_subprotocols(env: HubUnderTest) -> None:
    token = env.minter.mint(org="org-1")
    bare_url = env.url(token="")
    async with client(bare_url, additional_headers={"Authorization": f"Bearer {token}"}) as by_header:
        assert await send(by_header, {"action": "ping"}) == {"type": "pong"}
    async with client(bare_url, subprotocols=[Subprotocol("bearer"), Subprotocol(token)]) as by_subprotocol:
        assert by_subprotocol.subprotocol == "bearer"
        assert await send(by_subprotocol, {"action": "ping"}) == {"type": "pong"}


async def test_subscribe_grants_the_callers_devices_and_denies_the_rest(env: HubUnderTest) -> None:
    async with client(env.url(org="org-1")) as ws:
        reply = await send(ws, {"action": "subscribe", "deviceIds": ["dev-1", "dev-9", "dev-nope", "dev-1"]})
        again = await send(ws, {"action": "subscribe", "deviceIds": ["dev-1", "dev-2"]})

        assert reply == {"type": "subscribed", "deviceIds": ["dev-1"], "denied": ["dev-9", "dev-nope"]}
        assert again == {"type": "subscribed", "deviceIds": ["dev-1", "dev-2"], "denied": []}
        assert env.hub.watchers_of("org-1", "dev-1") == 1
        assert env.hub.watchers_of("org-2", "dev-9") == 0
    # The access check asked the device service with the gateway's service token, once per new device set.
    asked = [list(r.device_ids) for r in env.recorder.requests if isinstance(r, device_pb2.BatchGetDevicesRequest)]
    assert asked == [["dev-1", "dev-9", "dev-nope"], ["dev-2"]]
    assert all(m["authorization"] != "" for m in env.recorder.metadata)


async def test_readings_status_changes_and_alerts_reach_subscribers(env: HubUnderTest) -> None:
    async with client(env.url(org="org-1")) as ws:
        await send(ws, {"action": "subscribe", "deviceIds": ["dev-1"]})
        await env.publish(
            "telemetry.readings_stored",
            readings_stored("org-1", ("dev-2", {"temperature": 1.0}), ("dev-1", {"temperature": 22.5, "humidity": 45})),
        )
        await env.publish("device.status_changed", status_changed("org-1", "dev-1", "offline", "online"))
        await env.publish("device.status_changed", status_changed("org-1", "dev-2", "offline", "online"))
        # Alerts go to the whole organization, watched device or not.
        await env.publish("alerting.alert_triggered", alert_triggered("org-1", "dev-2"))

        reading, status, alert = await receive(ws), await receive(ws), await receive(ws)

    assert reading == {
        "type": "reading",
        "deviceId": "dev-1",
        "timestamp": "2025-11-15T10:00:00Z",
        "data": {"temperature": 22.5, "humidity": 45.0},
        "anomalies": [],
    }
    assert status["type"] == "deviceStatus"
    assert (status["deviceId"], status["status"], status["previousStatus"]) == ("dev-1", "offline", "online")
    assert status["timestamp"].endswith("Z")
    assert alert == {
        "type": "alert",
        "deviceId": "dev-2",
        "deviceName": "Office-Temp-Sensor-1",
        "alertId": "alert-123",
        "ruleId": "rule-temp-high",
        "ruleName": "High Temperature Alert",
        "severity": "warning",
        "status": "triggered",
        "condition": "temperature > 40",
        "actualValue": 42.5,
        "threshold": 40.0,
        "triggeredAt": "2025-11-15T10:00:00Z",
    }


async def test_another_organization_gets_nothing(env: HubUnderTest) -> None:
    async with client(env.url(org="org-1")) as org1, client(env.url(org="org-2")) as org2:
        await send(org1, {"action": "subscribe", "deviceIds": ["dev-1"]})
        await send(org2, {"action": "subscribe", "deviceIds": ["dev-9"]})
        await env.publish("telemetry.readings_stored", readings_stored("org-1", ("dev-1", {"temperature": 20})))
        await env.publish("alerting.alert_triggered", alert_triggered("org-1", "dev-1", "alert-org1"))
        # An event of org-2 naming org-1's device reaches nobody in org-1.
        await env.publish("telemetry.readings_stored", readings_stored("org-2", ("dev-1", {"temperature": 99})))
        await env.publish("alerting.alert_triggered", alert_triggered("org-2", "dev-9", "alert-org2"))

        org1_messages = [await receive(org1), await receive(org1)]
        # Messages arrive in order, so org-2's first one being its own alert means nothing of org-1 came.
        org2_first = await receive(org2)
        assert await send(org1, {"action": "ping"}) == {"type": "pong"}

    assert [(m["type"], m["deviceId"]) for m in org1_messages] == [("reading", "dev-1"), ("alert", "dev-1")]
    assert org1_messages[0]["data"] == {"temperature": 20.0}
    assert (org2_first["type"], org2_first["alertId"]) == ("alert", "alert-org2")


async def test_unsubscribe_stops_delivery(env: HubUnderTest) -> None:
    async with client(env.url(org="org-1")) as ws:
        await send(ws, {"action": "subscribe", "deviceIds": ["dev-1", "dev-2"]})
        reply = await send(ws, {"action": "unsubscribe", "deviceIds": ["dev-1"]})
        await env.publish(
            "telemetry.readings_stored", readings_stored("org-1", ("dev-1", {"t": 1}), ("dev-2", {"t": 2}))
        )
        delivered = await receive(ws)
        after = await send(ws, {"action": "ping"})

    assert reply == {"type": "unsubscribed", "deviceIds": ["dev-1"]}
    assert delivered["deviceId"] == "dev-2"
    assert after == {"type": "pong"}
    assert env.hub.watchers_of("org-1", "dev-1") == 0


async def test_bad_messages_get_an_error_and_the_connection_stays_open(env: HubUnderTest) -> None:
    async with client(env.url(org="org-1")) as ws:
        replies = [
            await send(ws, "not json"),  # type: ignore[arg-type]
            await send(ws, {"action": "dance"}),
            await send(ws, {"action": "subscribe", "deviceIds": []}),
            await send(ws, {"action": "subscribe", "deviceIds": [f"dev-{i}" for i in range(1001)]}),
            await send(ws, {"action": "unsubscribe", "deviceIds": [7]}),
        ]
        still_open = await send(ws, {"action": "ping"})

    assert {(r["type"], r["code"]) for r in replies} == {("error", "VALIDATION_ERROR")}
    assert "unknown action 'dance'" in replies[1]["message"]
    assert "at most 1000" in replies[3]["message"]
    assert still_open == {"type": "pong"}


async def test_the_device_service_being_down_is_an_error_not_a_grant(token_minter: TokenMinter) -> None:
    async with hub_under_test(token_minter) as env:
        env.devices.add("dev-1", "org-1")
        async with client(env.url(org="org-1")) as ws:
            await env.device_server.stop(0)
            reply = await send(ws, {"action": "subscribe", "deviceIds": ["dev-1"]})
    assert reply["type"] == "error"
    assert reply["code"] == "UPSTREAM_UNAVAILABLE"
    assert env.hub.subscription_count == 0


async def test_disconnect_cleans_the_index(env: HubUnderTest) -> None:
    async with client(env.url(org="org-1")) as one, client(env.url(org="org-1")) as two:
        await send(one, {"action": "subscribe", "deviceIds": ["dev-1", "dev-2"]})
        await send(two, {"action": "subscribe", "deviceIds": ["dev-1"]})
        assert (env.hub.connection_count, env.hub.subscription_count) == (2, 3)
        await one.close()
        await wait_until(lambda: env.hub.connection_count == 1)
        assert env.hub.subscription_count == 1
    await wait_until(lambda: env.hub.connection_count == 0)
    assert env.hub.subscription_count == 0


async def test_a_dead_peer_is_dropped_by_the_server_pings(token_minter: TokenMinter) -> None:
    async with hub_under_test(token_minter, ws_ping_interval=0.1, ws_ping_timeout=0.2) as env:
        env.devices.add("dev-1", "org-1")
        dead = RawClient(env.url(org="org-1"))
        await dead.open()
        dead.send_text(json.dumps({"action": "subscribe", "deviceIds": ["dev-1"]}))
        await wait_until(lambda: env.hub.subscription_count == 1)
        # It never answers a ping: the server closes it and the hub forgets it.
        assert await dead.at_eof()
        await wait_until(lambda: env.hub.connection_count == 0)
        assert env.hub.subscription_count == 0
        dead.close()
