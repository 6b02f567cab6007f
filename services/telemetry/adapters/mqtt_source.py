"""The direct MQTT path (spec §4.2): devices publish on <prefix>/{deviceId}/telemetry, we ingest in batches.

Why paho-mqtt with its network loop in a thread (bench/mqtt_clients.py, figures in docs/telemetry_sources.md):
paho reads, decodes and acknowledges in a tight loop of its own, and the event loop only sees whole batches;
aiomqtt pays an asyncio future and a queue hop per message and reached a fraction of paho's rate.

Delivery guarantees:
- QoS 1 with a persistent session (MQTT 5, clean start off, a session expiry) under a stable client id, so
  what was published while we were away, or received but not acknowledged, is sent again on reconnect;
- manual acknowledgement: a batch's PUBACKs go out only after ingest returned (each record stored or
  dead-lettered); a failing ingest is retried and nothing is acknowledged meanwhile;
- a PUBACK names a packet id of one connection. After a reconnect the broker resends the unacknowledged
  messages under their ids of the new connection, so messages of an older connection are ingested (the store
  ignores duplicates) but never acknowledged: their id may already mean another message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from services.runtime.mqtt import MqttEndpoint
from services.telemetry.adapters.source_delivery import ingest_until_taken
from services.telemetry.adapters.source_inbox import ThreadInbox
from services.telemetry.adapters.source_mqtt_config import MqttOptions
from services.telemetry.adapters.source_paho_client import BufferedPahoClient
from services.telemetry.domain.model import RawRecord, Source
from services.telemetry.ports import Ingest

log = logging.getLogger("iotmon.telemetry.mqtt")

# topic, payload, packet id, QoS, and the generation of the connection it arrived on
Delivery = tuple[bytes, bytes, int, int, int]


class MqttSource:
    def __init__(self, endpoint: MqttEndpoint | str, options: MqttOptions) -> None:
        self.endpoint = MqttEndpoint.parse(endpoint) if isinstance(endpoint, str) else endpoint
        self.options = options
        # Bumped by every successful CONNACK, in paho's thread, before any message of that connection.
        self._generation = 0
        self._inbox: ThreadInbox[Delivery] | None = None
        self.subscribed = asyncio.Event()  # set once the first subscription is in place (tests, readiness)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, ingest: Ingest) -> None:
        self._loop = asyncio.get_running_loop()
        self._inbox = ThreadInbox(self._loop, self.options.batch_size)
        client = self._client()
        client.connect_async(
            self.endpoint.host,
            self.endpoint.port,
            keepalive=self.options.keepalive_seconds,
            clean_start=False,
            properties=self._connect_properties(),
        )
        client.loop_start()
        log.info("consuming", extra={"broker": str(self.endpoint), "subscription": self.options.subscription})
        try:
            while True:
                batch = await self._inbox.next_batch(self.options.linger_seconds)
                await self._deliver(client, batch, ingest)
        finally:
            # Cancelled: the batch in flight, if any, stays unacknowledged and comes again on reconnect.
            client.disconnect()
            client.loop_stop()

    async def _deliver(self, client: BufferedPahoClient, batch: Sequence[Delivery], ingest: Ingest) -> None:
        received_at_ms = time.time_ns() // 1_000_000
        device_of = self.options.device_of
        records = [
            RawRecord(
                payload=payload,
                source=Source.MQTT,
                received_at_ms=received_at_ms,
                topic_device_id=device_of(topic.decode(errors="replace")),
            )
            for topic, payload, _, _, _ in batch
        ]
        await ingest_until_taken(ingest, records, log)
        current = self._generation
        stale = 0
        acknowledged: list[int] = []
        for _, _, mid, qos, generation in batch:
            if generation != current:
                stale += 1
            elif qos == 1:
                acknowledged.append(mid)
            elif qos:
                client.ack(mid, qos)
        client.ack_many(acknowledged)
        if stale:
            log.info("messages of an earlier connection not acknowledged", extra={"messages": stale})

    def _client(self) -> BufferedPahoClient:
        client = BufferedPahoClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
            on_publish_received=self._on_publish_received,
        )
        if self.endpoint.username:
            client.username_pw_set(self.endpoint.username, self.endpoint.password)
        if self.endpoint.tls:
            client.tls_set(
                ca_certs=self.options.ca_file, certfile=self.options.cert_file, keyfile=self.options.key_file
            )
        client.reconnect_delay_set(self.options.reconnect_min_seconds, self.options.reconnect_max_seconds)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.options.session_expiry_seconds
        properties.ReceiveMaximum = self.options.receive_maximum
        return properties

    # paho callbacks: they run in paho's network thread.

    def _on_publish_received(self, topic: bytes, payload: bytes, mid: int, qos: int) -> None:
        assert self._inbox is not None
        self._inbox.put((topic, payload, mid, qos, self._generation))

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection", extra={"broker": str(self.endpoint), "reason": str(reason)})
            return
        self._generation += 1
        if not flags.session_present:
            # A first start, or the session expired: what was sent meanwhile is gone from the broker.
            log.info("no session on the broker, starting a new one", extra={"clientId": self.options.client_id})
        client.subscribe(self.options.subscription, options=SubscribeOptions(qos=1))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("subscription refused", extra={"subscription": self.options.subscription})
        elif self._loop is not None:
            log.info("subscribed", extra={"subscription": self.options.subscription})
            self._loop.call_soon_threadsafe(self.subscribed.set)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("connection lost, reconnecting", extra={"broker": str(self.endpoint), "reason": str(reason)})
