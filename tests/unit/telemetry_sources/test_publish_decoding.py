"""The source's short-cut PUBLISH decoder agrees with paho's own on every shape of MQTT 5 PUBLISH."""

from __future__ import annotations

import struct

import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from services.telemetry.adapters.source_paho_client import _decode_publish


def publish_body(topic: bytes, payload: bytes, qos: int, mid: int, properties: Properties | None) -> bytes:
    packed = properties.pack() if properties is not None else b"\x00"
    return struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"") + packed + payload


def with_user_properties(count: int) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = [(f"key-{n}", "v" * 20) for n in range(count)]  # > 127 bytes: a 2-byte length
    return properties


@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("properties", [None, "small", "large"])
def test_topic_payload_and_packet_id_are_those_paho_decodes(qos: int, properties: str | None) -> None:
    props = {None: None, "small": with_user_properties(1), "large": with_user_properties(8)}[properties]
    body = publish_body(b"devices/dev-7/telemetry", b'{"deviceId": "dev-7"}', qos, 4242, props)

    expected = _packet.decode_publish(0x30 | (qos << 1), body, MQTTProtocolVersion.MQTTv5)
    assert _decode_publish(body, qos) == (expected.topic, expected.payload, expected.mid)


def test_an_empty_payload_is_kept_empty() -> None:
    assert _decode_publish(publish_body(b"t", b"", 1, 1, None), 1) == (b"t", b"", 1)


def test_a_truncated_packet_is_refused() -> None:
    with pytest.raises(IndexError):
        _decode_publish(b"\x00\x05dev", 1)
