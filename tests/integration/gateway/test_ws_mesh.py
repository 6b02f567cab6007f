"""/ws against `iotmon up`: the real device service decides what may be watched (BatchGetDevices with the
gateway's service token) and the real telemetry and device services publish what the hub pushes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.gateway.test_ws import client, receive, send
from tests.support.mesh import RunningMesh, iotmon_up

DEVICE = {
    "deviceType": "temperature-sensor-v2",
    "name": "Office-Temp-Sensor-1",
    "location": {"lat": 37.7749, "lon": -122.4194, "address": "Office 301, Building A"},
    "connectivity": {"type": "cellular", "simId": "sim-123456"},
    "tags": ["office"],
}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    with iotmon_up(Path(tmp_path_factory.mktemp("iotmon"))) as running:
        yield running
        running.stop()


def register(mesh: RunningMesh, token: str) -> str:
    body = DEVICE | {"metadata": {"serialNumber": "SN-" + uuid.uuid4().hex[:10]}}
    response = httpx.post(f"{mesh.gateway}/devices", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    return str(response.json()["deviceId"])


def ws_url(mesh: RunningMesh, token: str) -> str:
    return mesh.gateway.replace("http://", "ws://") + f"/ws?token={token}"


async def test_a_subscriber_sees_its_devices_readings_and_status_and_nothing_of_another_org(
    mesh: RunningMesh,
) -> None:
    token = mesh.token(org="org-ws", role="operator", user="user-ws")
    other = mesh.token(org="org-ws-other", role="admin", user="user-other")
    device_id = register(mesh, token)

    async with client(ws_url(mesh, token)) as ws, client(ws_url(mesh, other)) as intruder:
        mine = await send(ws, {"action": "subscribe", "deviceIds": [device_id, "dev-does-not-exist"]})
        theirs = await send(intruder, {"action": "subscribe", "deviceIds": [device_id]})
        reading = {"deviceId": device_id, "timestamp": int(time.time() * 1000), "data": {"temperature": 24.5}}
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
            ingest = await http.post(f"{mesh.gateway}/telemetry", json={"records": [reading]})
        assert ingest.json()["accepted"] == 1, ingest.text

        pushed: dict[str, dict[str, Any]] = {}
        while not {"reading", "deviceStatus"} <= pushed.keys():
            message = await receive(ws)
            pushed[message["type"]] = message
        assert await send(intruder, {"action": "ping"}) == {"type": "pong"}  # and nothing before it

    assert mine == {"type": "subscribed", "deviceIds": [device_id], "denied": ["dev-does-not-exist"]}
    assert theirs == {"type": "subscribed", "deviceIds": [], "denied": [device_id]}
    assert pushed["reading"]["deviceId"] == device_id
    assert pushed["reading"]["data"]["temperature"] == 24.5
    assert (pushed["deviceStatus"]["deviceId"], pushed["deviceStatus"]["status"]) == (device_id, "online")
