"""paho-mqtt's client with a faster read path for the MQTT source.

Profiled under load (py-spy on bench/mqtt_clients.py and bench/ingest.py), stock paho 2.x spends per
incoming message:
- a select() and three recv() system calls: it reads one packet per wake-up of its loop, and each packet as
  a 1-byte command, a byte-at-a-time remaining length and the body. Here the socket is read 64 KiB at a time
  and packets are parsed from that buffer until it and the socket are empty (+24 % messages per CPU-second);
- a PUBACK costs a queued packet, a wake-up of the network thread (a byte on its socket pair) and a send()
  each; a batch's PUBACKs go out here as one write (`ack_many`);
- about half of its CPU time on decoding PUBLISH with MQTT 5: format strings built per packet, a Properties
  object with its tables, an MQTTMessage and an MQTTMessageInfo. The source needs topic, payload, packet id
  and QoS only, so QoS 0/1 PUBLISHes go straight to `on_publish_received` with those four, and the MQTT 5
  properties are skipped.
Private paho members are used (`_sock_recv`, `_packet_read`, `_loop_rc_handle`, `_handle_publish`,
`_in_packet`, `_packet_queue`): paho is pinned to 2.x, and the source's tests run through this class against Mosquitto.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_SIZE = 1 << 16
# Packets parsed per wake-up at most, so that keep-alive and outgoing PUBACKs still get their turn.
PACKETS_PER_WAKEUP = 2000

_PUBACK = struct.Struct("!BBH").pack  # fixed header, remaining length 2, packet id (MQTT 5: reason 0 omitted)
# topic (bytes), payload, packet id, QoS — called in paho's network thread.
PublishReceived = Callable[[bytes, bytes, int, int], None]


class BufferedPahoClient(mqtt.Client):
    def __init__(self, *args: Any, on_publish_received: PublishReceived, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_publish_received = on_publish_received
        self._read_buffer = b""
        self._read_offset = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._read_offset >= len(self._read_buffer):
            data = super()._sock_recv(READ_SIZE)  # BlockingIOError when nothing is there: paho's "again"
            if not data:
                return data  # the connection closed
            self._read_buffer, self._read_offset = data, 0
        start = self._read_offset
        chunk = self._read_buffer[start : start + bufsize]
        self._read_offset = start + len(chunk)
        return chunk

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Parse packets until the buffer and the socket are empty (paho stops after one)."""
        for _ in range(PACKETS_PER_WAKEUP):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def reconnect(self) -> MQTTErrorCode:
        self._read_buffer, self._read_offset = b"", 0  # bytes of the old connection mean nothing now
        return super().reconnect()

    def ack_many(self, mids: Sequence[int]) -> None:
        """Acknowledge QoS 1 messages, as ack(mid, 1) each would, with their PUBACKs queued as one packet:
        one wake-up of the network thread and one send() for the batch instead of one of each per message."""
        if not self._manual_ack or not mids:
            return
        packet = b"".join([_PUBACK(mqtt.PUBACK, 2, mid) for mid in mids])
        self._packet_queue(mqtt.PUBACK, packet, mids[-1], 1)

    def _handle_publish(self) -> MQTTErrorCode:
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if qos > 1 or self._protocol != mqtt.MQTTv5 or not self._manual_ack:
            return super()._handle_publish()  # QoS 2 needs paho's state machine; our subscription is QoS 1
        try:
            topic, payload, mid = _decode_publish(bytes(self._in_packet["packet"]), qos)
        except IndexError:
            return super()._handle_publish()  # malformed: let paho report it its own way
        self.on_publish_received(topic, payload, mid, qos)
        return MQTTErrorCode.MQTT_ERR_SUCCESS  # manual acknowledgement: the source acks after ingest


def _decode_publish(packet: bytes, qos: int) -> tuple[bytes, bytes, int]:
    """Topic, payload and packet id of an MQTT 5 PUBLISH body, skipping its properties."""
    end = 2 + int.from_bytes(packet[0:2], "big")
    topic, position, mid = packet[2:end], end, 0
    if qos:
        mid, position = int.from_bytes(packet[end : end + 2], "big"), end + 2
    length, shift = 0, 0
    while True:  # the properties' length: a variable byte integer
        byte = packet[position]
        position += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return topic, packet[position + length :], mid
