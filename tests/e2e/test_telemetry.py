"""Issue 4's contract over HTTP against `iotmon up`: ingest, dead letters, device state, history (§3.1.6)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import Api
from tests.e2e.test_devices import assert_error, register

HISTORY_SHAPE_KEYS = {"deviceId", "timeRange", "metrics", "aggregation", "data"}


def now_ms() -> int:
    return int(time.time() * 1000)


def reading(device_id: str, timestamp: int, **data: Any) -> dict[str, Any]:
    values = {"temperature": 23.5, "humidity": 45, "co2": 450, "battery": 85} | data
    return {"deviceId": device_id, "timestamp": timestamp, "data": values}


@pytest.fixture(scope="module")
def sensor(admin: Api) -> str:
    return str(register(admin)["deviceId"])


def test_a_batch_is_accepted_record_by_record(admin: Api, sensor: str, other_org_admin: Api) -> None:
    foreign = str(register(other_org_admin)["deviceId"])
    t = now_ms() - 60_000
    records = [
        reading(sensor, t),
        reading(sensor, t + 1000, temperature="hot"),  # wrong type
        reading("dev-nobody", t),  # unknown device
        reading(sensor, t + 2000, humidity=150),  # out of range
        reading(sensor, now_ms() + 3_600_000),  # far in the future
        reading(foreign, t),  # another organization's device
        {"deviceId": sensor, "data": {"temperature": 20}},  # no timestamp
        reading(sensor, t + 3000),
    ]
    response = admin.post("/telemetry", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    reasons = {f["index"]: f["reason"] for f in body["failed"]}
    assert reasons == {
        1: "INVALID_TYPE",
        2: "UNKNOWN_DEVICE",
        3: "OUT_OF_RANGE",
        4: "TIMESTAMP_IN_FUTURE",
        5: "UNKNOWN_DEVICE",
        6: "INVALID_RECORD",
    }
    assert all(f["message"] for f in body["failed"])


def test_replaying_the_same_batch_stores_nothing_new(admin: Api, sensor: str) -> None:
    t = now_ms() - 120_000
    batch = {"records": [reading(sensor, t + i * 1000) for i in range(5)]}
    assert admin.post("/telemetry", json=batch).json()["accepted"] == 5
    assert admin.post("/telemetry", json=batch).json()["accepted"] == 5
    history = admin.get(
        f"/devices/{sensor}/history",
        params={"startDate": iso(t - 1), "endDate": iso(t + 10_000), "aggregation": "raw", "metrics": "temperature"},
    ).json()
    assert len(history["data"]) == 5, "a redelivered batch must not create duplicates"


def test_dead_letters_are_listed_for_admins_newest_first(admin: Api, viewer: Api, sensor: str) -> None:
    admin.post("/telemetry", json={"records": [reading(sensor, now_ms() - 5000, co2=-5)]})
    letters = admin.get("/telemetry/dead-letters", params={"pageSize": 5}).json()
    newest = letters["items"][0]
    assert newest["reason"] == "OUT_OF_RANGE"
    assert newest["record"]["data"]["co2"] == -5
    assert newest["receivedAt"]
    assert letters["pagination"]["page"] == 1
    assert_error(viewer.get("/telemetry/dead-letters"), 403, "FORBIDDEN")


def test_the_device_shows_its_last_reading_and_goes_online(admin: Api) -> None:
    device_id = str(register(admin)["deviceId"])
    t = now_ms() - 1000
    admin.post("/telemetry", json={"records": [reading(device_id, t - 5000), reading(device_id, t, temperature=24.5)]})
    device = admin.get(f"/devices/{device_id}").json()
    assert device["status"] == "online"
    assert device["lastReading"]["temperature"] == 24.5
    assert device["lastReading"]["timestamp"] == device["lastSeen"]
    assert "health" in device


@pytest.mark.parametrize("aggregation", ["raw", "1m", "5m", "15m", "1h", "1d"])
def test_history_has_the_spec_shape_for_every_aggregation(admin: Api, sensor: str, aggregation: str) -> None:
    start = (now_ms() // 3_600_000 - 3) * 3_600_000
    records = [reading(sensor, start + i * 60_000, temperature=20 + i % 10) for i in range(120)]
    assert admin.post("/telemetry", json={"records": records}).json()["accepted"] == 120
    params = {
        "startDate": iso(start),
        "endDate": iso(start + 120 * 60_000),
        "metrics": "temperature,humidity",
        "aggregation": aggregation,
    }
    history = admin.get(f"/devices/{sensor}/history", params=params).json()
    assert set(history) == HISTORY_SHAPE_KEYS
    assert history["deviceId"] == sensor
    assert history["metrics"] == ["temperature", "humidity"]
    assert history["aggregation"] == aggregation
    assert set(history["timeRange"]) == {"start", "end"}
    days = len({(start + i * 60_000) // 86_400_000 for i in range(120)})  # the range may cross midnight UTC
    expected_rows = {"raw": 120, "1m": 120, "5m": 24, "15m": 8, "1h": 2, "1d": days}[aggregation]
    assert len(history["data"]) == expected_rows
    first = history["data"][0]
    assert set(first) == {"timestamp", "temperature", "humidity"}
    if aggregation == "15m":
        assert first["temperature"] == pytest.approx(sum(20 + i % 10 for i in range(15)) / 15)


def test_a_raw_range_over_90_days_is_refused_saying_why(admin: Api, sensor: str) -> None:
    params = {"startDate": "2025-01-01T00:00:00Z", "endDate": "2025-06-01T00:00:00Z", "aggregation": "raw"}
    error = assert_error(admin.get(f"/devices/{sensor}/history", params=params), 400, "VALIDATION_ERROR")
    assert "90 days" in error["message"]


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"
