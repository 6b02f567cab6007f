"""Exactly-once effect over MQTT: SIGKILL the mesh mid-ingest, restart it, and count what was stored.

The MQTT source acknowledges a message only after its batch is stored, with a persistent session, so the
broker redelivers whatever the killed process had not acknowledged; the store keeps one datapoint per
(device, timestamp, metric), so redeliveries add nothing. The count must be exactly what was published.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt

from tests.e2e.spec_payloads import REGISTER_DEVICE
from tests.support.mesh import RunningMesh, iotmon_up
from tests.support.servers import require_server

READINGS = 2000
RATE_PER_SECOND = 250  # slow enough that the broker's offline queue (1,000 messages) never overflows


def publish_steadily(prefix: str, device_id: str, first_ms: int, published: list[int]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-device")
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        for i in range(READINGS):
            payload = {"deviceId": device_id, "timestamp": first_ms + i * 1000, "data": {"temperature": 20 + i % 7}}
            info = client.publish(f"{prefix}/{device_id}/telemetry", orjson.dumps(payload), qos=1)
            info.wait_for_publish(timeout=30)
            published.append(i)
            time.sleep(1 / RATE_PER_SECOND)
    finally:
        client.loop_stop()
        client.disconnect()


def stored_count(mesh: RunningMesh, token: str, device_id: str, first_ms: int) -> int:
    params = {
        "startDate": iso(first_ms),
        "endDate": iso(first_ms + READINGS * 1000),
        "aggregation": "raw",
        "metrics": "temperature",
    }
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.get(f"{mesh.gateway}/devices/{device_id}/history", params=params, headers=headers, timeout=30)
    response.raise_for_status()
    timestamps = [row["timestamp"] for row in response.json()["data"]]
    assert len(timestamps) == len(set(timestamps)), "a datapoint was stored twice"
    return len(timestamps)


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def test_sigkill_mid_ingest_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    require_server("Mosquitto", "127.0.0.1", 1883)
    prefix = "crash-" + uuid.uuid4().hex[:8]
    env = {
        "IOTMON_MQTT_URL": "mqtt://127.0.0.1:1883",
        "IOTMON_TELEMETRY_MQTT_TOPIC_PREFIX": prefix,
        "IOTMON_TELEMETRY_MQTT_CLIENT_ID": f"{prefix}-consumer",
        "IOTMON_TELEMETRY_MQTT_GROUP": "",
    }
    first_ms = int(time.time() * 1000) - (READINGS + 120) * 1000
    published: list[int] = []
    with iotmon_up(tmp_path, env) as first:
        token = first.token(role="admin")
        created = httpx.post(
            f"{first.gateway}/devices", json=REGISTER_DEVICE, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert created.status_code == 201, created.text
        device_id = created.json()["deviceId"]
        publisher = threading.Thread(target=publish_steadily, args=(prefix, device_id, first_ms, published))
        publisher.start()
        while len(published) < READINGS // 3:
            time.sleep(0.05)
        first.process.kill()  # SIGKILL: no drain, no acknowledgement of the batch in flight
        first.process.wait()
        killed_after = len(published)
    with iotmon_up(tmp_path, env) as second:
        publisher.join(timeout=60)
        assert len(published) == READINGS
        deadline = time.monotonic() + 90
        count = stored_count(second, token, device_id, first_ms)
        while count < READINGS and time.monotonic() < deadline:
            time.sleep(0.5)
            count = stored_count(second, token, device_id, first_ms)
        time.sleep(2)  # anything still arriving would be a duplicate or an extra
        assert stored_count(second, token, device_id, first_ms) == READINGS, (
            f"published {READINGS}, killed after {killed_after}, stored {count}"
        )
        assert second.stop() == 0
    assert killed_after < READINGS, "the kill must happen mid-ingest"
