"""A fast MQTT 3.1.1 publisher for the benchmarks: pre-encoded PUBLISH packets written straight to the socket.

Why not paho: a paho publisher tops out at ≈ 26,000 msg/s (QoS 0) and ≈ 6,000 msg/s (QoS 1) on this machine,
below the subscriber ceilings the benchmarks measure, so it would measure itself. Encoding the packets once
and writing them in large chunks leaves Mosquitto and the subscriber as the only limits.

    python bench/_mqtt_load.py --url mqtt://127.0.0.1:1883 --count 200000 --qos 1 [--rate 20000]

Prints "publishing" when the packets are encoded and sending starts, then one JSON line:
{"published": n, "seconds": s, "rate": r}.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import orjson

CHUNK = 500  # packets per sendall: large writes, yet fine-grained enough to pace


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: str, user: str | None = None, password: str | None = None) -> bytes:
    flags = 0x02 | (0x80 if user else 0) | (0x40 if password else 0)  # clean session (+ credentials)
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + struct.pack("!H", 60)
    for text in (client_id, user, password):
        if text:
            body += struct.pack("!H", len(text.encode())) + text.encode()
    return b"\x10" + remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, qos: int, packet_id: int) -> bytes:
    encoded = topic.encode()
    body = struct.pack("!H", len(encoded)) + encoded + (struct.pack("!H", packet_id) if qos else b"") + payload
    return bytes([0x30 | (qos << 1)]) + remaining_length(len(body)) + body


def reading(device_id: str, timestamp_ms: int, step: int) -> bytes:
    """One 4-metric record of the spec's temperature-sensor-v2, §4.1 shape."""
    return orjson.dumps(
        {
            "deviceId": device_id,
            "timestamp": timestamp_ms,
            "data": {
                "temperature": round(21.0 + (step % 50) / 10, 2),
                "humidity": round(40.0 + (step % 30) / 10, 2),
                "co2": 400.0 + step % 200,
                "battery": 90.0 - (step % 100) / 10,
            },
        }
    )


def packets(device_ids: list[str], count: int, qos: int, start_ms: int, prefix: str) -> Iterator[bytes]:
    """`count` readings round-robin over the devices; each device's timestamps advance by one second."""
    for i in range(count):
        device = device_ids[i % len(device_ids)]
        timestamp = start_ms + (i // len(device_ids)) * 1000
        yield publish_packet(f"{prefix}/{device}/telemetry", reading(device, timestamp, i), qos, i % 65535 + 1)


def _drain(sock: socket.socket) -> None:
    """Read and discard CONNACK/PUBACKs so the broker never blocks on a full socket; ends when it closes."""
    try:
        while sock.recv(1 << 16):
            pass
    except OSError:
        return


def publish(
    url: str,
    encoded: list[bytes],
    *,
    rate: float | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> float:
    """Write the packets over one connection (paced at `rate` msg/s when given); returns the seconds taken."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 1883))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(f"bench-pub-{time.monotonic_ns()}", parts.username, parts.password))
    drainer = threading.Thread(target=_drain, args=(sock,), daemon=True)
    drainer.start()
    started = time.perf_counter()
    for offset in range(0, len(encoded), CHUNK):
        sock.sendall(b"".join(encoded[offset : offset + CHUNK]))
        sent = min(offset + CHUNK, len(encoded))
        if on_chunk:
            on_chunk(sent)
        if rate:
            ahead = started + sent / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    seconds = time.perf_counter() - started
    sock.sendall(b"\xe0\x00")  # DISCONNECT after the broker read everything before it
    time.sleep(0.2)
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    drainer.join(5)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--device-prefix", default="bench-dev")
    parser.add_argument("--topic-prefix", default="devices")
    parser.add_argument("--rate", type=float, default=None, help="messages/s (default: as fast as possible)")
    parser.add_argument("--start-ms", type=int, default=int(time.time() * 1000) - 3_600_000)
    parser.add_argument("--device-ids", help="file with one device id per line (instead of generated ids)")
    args = parser.parse_args()
    if args.device_ids:
        with open(args.device_ids) as ids:
            devices = [line.strip() for line in ids if line.strip()]
    else:
        devices = [f"{args.device_prefix}-{i:05d}" for i in range(args.devices)]
    encoded = list(packets(devices, args.count, args.qos, args.start_ms, args.topic_prefix))
    print("publishing", flush=True)  # the packets are encoded: the clock of a benchmark may start now
    seconds = publish(args.url, encoded, rate=args.rate)
    print(json.dumps({"published": len(encoded), "seconds": round(seconds, 3), "rate": round(len(encoded) / seconds)}))


if __name__ == "__main__":
    main()
