"""MQTT: each record is one message on devices/{deviceId}/telemetry, published with paho-mqtt.

paho runs on the asyncio loop through its external-loop hooks (socket open/close and register-write
callbacks) instead of its own network thread. Measured here, 100,000 QoS 0 publishes of a 4-metric record:
its thread ≈ 13,000 msg/s (every publish wakes the thread through a socket pair, and the on_publish callback
builds Properties per message); this way ≈ 30,000 msg/s, because a whole slice is queued synchronously and
written when the loop next runs. Acknowledgements are read from the MQTTMessageInfo objects (published in
order) rather than from on_publish, which costs several microseconds per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from iotmon.simulate.generator import TelemetryRecord
from iotmon.simulate.options import MqttUrl
from iotmon.simulate.stats import Counters
from iotmon.simulate.transports.base import TransportError

log = logging.getLogger("iotmon.simulate")

TOPIC = "devices/{}/telemetry"
# No in-flight limit inside paho: with one, paho scans its in-flight messages on every PUBACK to send the next
# queued one (QoS 1 measured ≈ 11,000 msg/s with 20, ≈ 13,500 with 100, ≈ 8,600 with 300); without one it
# sends at once and a PUBACK costs O(1). The window is kept here instead: published but not yet acknowledged
# (QoS 1) or not yet written (QoS 0) beyond MAX_PENDING, and the pump waits.
MAX_INFLIGHT = 0
MAX_PENDING = 5_000
MAX_SLICE = 1_000
CONNECT_TIMEOUT = 10.0
KEEPALIVE = 30
HOUSEKEEPING_INTERVAL = 0.5


class MqttTransport:
    max_batch = MAX_SLICE
    linger = 0.0  # one message per record: nothing to fill

    def __init__(self, url: MqttUrl, qos: int, counters: Counters, client_id: str):
        self._url = url
        self._qos = qos
        self._counters = counters
        self._loop = asyncio.get_running_loop()
        self._pending: deque[mqtt.MQTTMessageInfo] = deque()
        self._connected = asyncio.Event()
        self._socket_closed = asyncio.Event()
        self._refused: str | None = None
        self._closing = False
        self._client = self._new_client(client_id)

    def _new_client(self, client_id: str) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(0)
        if self._url.username:
            client.username_pw_set(self._url.username, self._url.password)
        # paho's external-loop hooks: the asyncio loop watches its socket instead of a network thread.
        client.on_socket_open = lambda c, _u, sock: self._loop.add_reader(sock, c.loop_read)
        client.on_socket_close = lambda _c, _u, sock: self._forget_socket(sock)
        client.on_socket_register_write = lambda c, _u, sock: self._loop.add_writer(sock, c.loop_write)
        client.on_socket_unregister_write = lambda _c, _u, sock: self._stop_writing(sock)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    async def connect(self) -> None:
        try:
            # Blocking, but a TCP connect to a broker; the CONNACK is awaited without blocking.
            self._client.connect(self._url.host, self._url.port, keepalive=KEEPALIVE)
        except OSError as error:
            where = f"{self._url.host}:{self._url.port}"
            raise TransportError(f"cannot reach the MQTT broker at {where}: {error}") from None
        try:
            await asyncio.wait_for(self._connected.wait(), CONNECT_TIMEOUT)
        except TimeoutError:
            raise TransportError("the MQTT broker did not answer CONNECT") from None
        if self._refused:
            raise TransportError(f"the MQTT broker refused the connection: {self._refused}")

    async def send(self, records: list[TelemetryRecord]) -> None:
        while len(self._pending) > MAX_PENDING:
            await asyncio.sleep(0.002)
            self._collect_acknowledgements()
        publish, dumps, qos, pending = self._client.publish, orjson.dumps, self._qos, self._pending
        refused = 0
        for record in records:
            info = publish(TOPIC.format(record["deviceId"]), dumps(record), qos)
            # While disconnected a message counts as failed (paho may still deliver a QoS 1 one after reconnecting).
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                pending.append(info)
            else:
                refused += 1
        self._counters.fail(refused, "MQTT_NOT_CONNECTED")
        self._collect_acknowledgements()

    async def drain(self) -> None:
        self._collect_acknowledgements()
        while self._pending:
            await asyncio.sleep(0.01)
            self._collect_acknowledgements()

    async def housekeeping(self) -> None:
        """Keepalive pings, acknowledgement counting and reconnecting, while the transport is open."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            self._client.loop_misc()
            self._collect_acknowledgements()
            if not self._client.is_connected() and not self._closing:
                self._reconnect()

    async def close(self) -> None:
        """Disconnect; what is still unacknowledged counts as failed."""
        self._closing = True
        self._collect_acknowledgements()
        self._counters.fail(len(self._pending), "MQTT_NOT_ACKNOWLEDGED")
        self._pending.clear()
        if self._client.is_connected():
            self._client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._socket_closed.wait(), 2.0)
        sock = self._client.socket()
        if sock is not None:  # the broker never closed the connection: stop watching the socket ourselves
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

    def _stop_writing(self, sock: Any) -> None:
        self._loop.remove_writer(sock)

    def _forget_socket(self, sock: Any) -> None:
        self._loop.remove_reader(sock)
        self._socket_closed.set()

    def _collect_acknowledgements(self) -> None:
        pending, done = self._pending, 0
        while pending and pending[0].is_published():
            pending.popleft()
            done += 1
        self._counters.acknowledged += done

    def _reconnect(self) -> None:
        try:
            self._client.reconnect()
        except OSError as error:
            log.warning("MQTT reconnect failed: %s", error)

    def _on_connect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _p: Any) -> None:
        if not self._closing:
            log.warning("MQTT connection lost: %s", reason)


@contextlib.asynccontextmanager
async def open_mqtt(url: MqttUrl, qos: int, counters: Counters, client_id: str) -> AsyncIterator[MqttTransport]:
    transport = MqttTransport(url, qos, counters, client_id)
    await transport.connect()
    housekeeping = asyncio.create_task(transport.housekeeping())
    try:
        yield transport
    finally:
        housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await housekeeping
        await transport.close()
