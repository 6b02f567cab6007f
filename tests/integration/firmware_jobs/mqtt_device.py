"""A raw paho device on the real Mosquitto: subscribes to its job topics, publishes requests, keeps what arrives."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

BROKER = ("127.0.0.1", 1883)


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return orjson.loads(self.payload)


class RawDevice:
    def __init__(self, prefix: str, device_id: str) -> None:
        self.prefix, self.device_id = prefix, device_id
        self.messages: list[Received] = []
        self._arrived = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:10]}")
        self._client.on_message = self._keep
        self._client.on_subscribe = lambda *_: self._subscribed.set()

    def topic(self, suffix: str) -> str:
        return f"{self.prefix}/{self.device_id}/jobs/{suffix}"

    @contextmanager
    def connected(self) -> Iterator[RawDevice]:
        self._client.connect(*BROKER)
        self._client.loop_start()
        try:
            self._client.subscribe(self.topic("#"), qos=1)
            assert self._subscribed.wait(10), "no SUBACK"
            yield self
        finally:
            self._client.disconnect()
            self._client.loop_stop()

    def publish(self, suffix: str, body: Any) -> None:
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        self._client.publish(self.topic(suffix), payload, qos=1).wait_for_publish(10)

    def _keep(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain)))
            self._arrived.notify_all()

    def on(self, suffix: str) -> list[Received]:
        with self._arrived:
            return [m for m in self.messages if m.topic == self.topic(suffix)]

    async def wait_on(self, suffix: str, count: int = 1, seconds: float = 10.0) -> list[Received]:
        """The messages that arrived on one of this device's job topics, once there are `count` of them."""

        def wait() -> list[Received]:
            with self._arrived:
                self._arrived.wait_for(lambda: len(self.on(suffix)) >= count, seconds)
            return self.on(suffix)

        found = await asyncio.to_thread(wait)
        assert len(found) >= count, f"{len(found)} messages on {suffix}, expected {count}: {self.messages}"
        return found

    async def request(self, suffix: str, body: Any, seconds: float = 10.0) -> tuple[str, Any]:
        """Publish on <suffix> and wait for the answer on <suffix>/accepted or /rejected: (which, body)."""
        before = len(self.on(suffix + "/accepted")) + len(self.on(suffix + "/rejected"))
        self.publish(suffix, body)

        def wait() -> None:
            with self._arrived:
                self._arrived.wait_for(
                    lambda: len(self.on(suffix + "/accepted")) + len(self.on(suffix + "/rejected")) > before, seconds
                )

        await asyncio.to_thread(wait)
        answers = [
            m for m in self.messages if m.topic in (self.topic(suffix + "/accepted"), self.topic(suffix + "/rejected"))
        ]
        assert len(answers) > before, f"no answer on {suffix}"
        last = answers[-1]
        return last.topic.rsplit("/", 1)[1], last.json()


def clear_retained(prefix: str, device_ids: list[str]) -> None:
    """Remove the retained notifications a test left on the shared broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"clear-{uuid.uuid4().hex[:10]}")
    client.connect(*BROKER)
    client.loop_start()
    try:
        for device_id in device_ids:
            client.publish(f"{prefix}/{device_id}/jobs/notify-next", b"", qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
