"""BufferedPahoClient.ack_many: a batch's PUBACKs as one queued write, byte for byte what ack() queues one by one.
(Acknowledged messages not coming back from Mosquitto is tested in test_mqtt_source.py.)"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from services.telemetry.adapters.source_paho_client import BufferedPahoClient


def client(*, manual_ack: bool = True) -> BufferedPahoClient:
    return BufferedPahoClient(
        CallbackAPIVersion.VERSION2,
        client_id="acks",
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
        on_publish_received=lambda *args: None,
    )


def queued(paho: BufferedPahoClient) -> list[bytes]:
    return [bytes(packet["packet"]) for packet in paho._out_packet]


def test_one_packet_holds_every_puback_in_order() -> None:
    mids = [1, 127, 128, 300, 65_535]
    one_by_one, batched = client(), client()
    for mid in mids:
        one_by_one.ack(mid, 1)
    batched.ack_many(mids)
    assert queued(batched) == [b"".join(queued(one_by_one))]
    assert queued(batched)[0][:4] == b"\x40\x02\x00\x01"  # PUBACK, remaining length 2, packet id 1


def test_nothing_is_queued_for_no_message_or_without_manual_acknowledgement() -> None:
    empty, automatic = client(), client(manual_ack=False)
    empty.ack_many([])
    automatic.ack_many([1, 2])
    assert queued(empty) == []
    assert queued(automatic) == []
