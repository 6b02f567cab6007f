"""--via mqtt: messages published through a real Mosquitto, counted by a subscriber of the devices' topics."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from iotmon.simulate import Via
from iotmon.simulate.options import MqttUrl
from iotmon.simulate.transports import TransportError
from tests.integration.simulate.conftest import FakeGateway
from tests.support.servers import free_port, require_server

BROKER = ("127.0.0.1", 1883)
# Mosquitto drops messages for a subscriber that falls more than max_queued_messages (1000) behind. The
# publisher outruns this Python subscriber (which shares the test's process), so the tests send at a pace it
# keeps up with even on a busy machine: it would have to fall a whole second behind to lose anything.
PACE = 1_000


class Subscriber:
    """A paho subscriber on its own network thread, keeping (topic, payload) of the topics it was given."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._arrived = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"simtest-sub-{uuid.uuid4().hex[:8]}")
        self._client.on_message = self._keep
        self._client.on_subscribe = lambda *_: self._subscribed.set()

    def _keep(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.messages.append((message.topic, orjson.loads(message.payload)))
            self._arrived.notify_all()

    @contextmanager
    def listening(self, topics: list[str]) -> Iterator[Subscriber]:
        self._client.connect(*BROKER)
        self._client.loop_start()
        try:
            self._client.subscribe([(topic, 1) for topic in topics])
            assert self._subscribed.wait(10), "no SUBACK"
            yield self
        finally:
            self._client.disconnect()
            self._client.loop_stop()

    async def wait_for(self, count: int, seconds: float = 15) -> None:
        def wait() -> None:
            with self._arrived:
                self._arrived.wait_for(lambda: len(self.messages) >= count, seconds)

        await asyncio.to_thread(wait)
        await asyncio.sleep(0.2)  # anything beyond `count` would show up now


@pytest.fixture(autouse=True)
def mosquitto() -> None:
    require_server("Mosquitto", *BROKER)


async def registered(gateway: FakeGateway, devices: int) -> list[str]:
    """Register the devices first, so the subscriber can listen to exactly their topics."""
    await gateway.run(gateway.options(Via.HTTP, devices=devices, count=1))
    return list(gateway.recorder.devices)


@pytest.mark.parametrize("qos", [0, 1])
async def test_every_message_reaches_a_subscriber_on_its_device_topic(gateway: FakeGateway, qos: int) -> None:
    devices = await registered(gateway, 6)
    with Subscriber().listening([f"devices/{d}/telemetry" for d in devices]) as subscriber:
        summary, _ = await gateway.run(gateway.options(Via.MQTT, devices=6, qos=qos, count=2_000, rate=PACE))
        await subscriber.wait_for(summary.sent)

    assert summary.acknowledged == summary.sent >= 2_000
    assert summary.failed == 0
    assert len(subscriber.messages) == summary.sent
    for topic, record in subscriber.messages[:200]:
        assert topic == f"devices/{record['deviceId']}/telemetry"
        assert set(record["data"]) == {"temperature", "humidity", "co2", "battery"}
    distinct = {(r["deviceId"], r["timestamp"]) for _, r in subscriber.messages}
    assert len(distinct) == summary.readings


async def test_out_of_order_readings_arrive_after_newer_ones(gateway: FakeGateway) -> None:
    devices = await registered(gateway, 4)
    options = gateway.options(Via.MQTT, devices=4, count=2_000, rate=PACE, seed=11)
    with Subscriber().listening([f"devices/{d}/telemetry" for d in devices]) as subscriber:
        summary, _ = await gateway.run(options)
        await subscriber.wait_for(summary.sent)

    newest: dict[str, int] = {}
    late = 0
    for _, record in subscriber.messages:
        device, timestamp = record["deviceId"], record["timestamp"]
        late += timestamp < newest.get(device, 0)
        newest[device] = max(newest.get(device, 0), timestamp)
    assert late == summary.out_of_order > 0


async def test_an_unreachable_broker_stops_the_run_with_one_error(gateway: FakeGateway) -> None:
    options = gateway.options(Via.MQTT, mqtt=MqttUrl("127.0.0.1", free_port()))
    with pytest.raises(TransportError, match="cannot reach the MQTT broker"):
        await gateway.run(options)
