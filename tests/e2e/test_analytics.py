"""Issue 7, first slice, over HTTP against `iotmon up`: the dashboard (§3.5.1) follows registrations and
readings, and the query (§3.5.2) answers the aggregates the readings give, refusing another organization's
devices. The module works in an organization of its own, so other modules' devices do not count."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from tests.e2e.conftest import Api, minutes_ago_today
from tests.e2e.test_devices import assert_error, register
from tests.support.mesh import RunningMesh

# The §3.5.1 example, as the spec prints it (comments removed).
DASHBOARD_EXAMPLE: dict[str, Any] = {
    "devices": {"total": 1500, "online": 1450, "offline": 45, "maintenance": 5},
    "alerts": {"active": 12, "critical": 2, "warning": 8, "info": 2},
    "dataVolume": {"today": 12500000, "thisMonth": 385000000},
    "trends": {"devicesOnline": "+2.5%", "activeAlerts": "-15%"},
}
MINUTE = 60_000


@pytest.fixture(scope="module")
def analyst(mesh: RunningMesh) -> Api:
    return Api(mesh, mesh.token(org="org-analytics", role="admin", user="user-analyst"))


def dashboard(api: Api) -> dict[str, Any]:
    response = api.get("/analytics/dashboard")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(api: Api, condition: Any, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dashboard(api)
        if condition(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_the_dashboard_has_exactly_the_spec_shape(analyst: Api) -> None:
    body = dashboard(analyst)

    assert body.keys() == DASHBOARD_EXAMPLE.keys()
    for key, example in DASHBOARD_EXAMPLE.items():
        assert body[key].keys() == example.keys(), key
    assert all(isinstance(v, int) for v in (*body["devices"].values(), *body["alerts"].values()))
    assert all(isinstance(v, (int, float)) for v in body["dataVolume"].values())
    assert body["devices"] == {"total": 0, "online": 0, "offline": 0, "maintenance": 0}
    assert body["trends"] == {"devicesOnline": "0%", "activeAlerts": "0%"}


def test_registrations_readings_and_queries(analyst: Api) -> None:
    before = dashboard(analyst)
    devices = [str(register(analyst)["deviceId"]) for _ in range(3)]

    registered = dashboard(analyst)
    assert registered["devices"]["total"] == before["devices"]["total"] + 3
    # Registered devices that never connected are offline: online + offline + maintenance = total.
    assert registered["devices"]["offline"] == before["devices"]["offline"] + 3

    # Readings for two of them: minute-aligned, known values.
    start = minutes_ago_today(30)
    temperatures = {devices[0]: [20.0, 21.0, 22.5, 30.0, 18.25], devices[1]: [10.0, 11.0, 12.0, 13.0, 14.0]}
    records = [
        {"deviceId": d, "timestamp": start + i * MINUTE, "data": {"temperature": t, "humidity": 40 + i}}
        for d, values in temperatures.items()
        for i, t in enumerate(values)
    ]
    response = analyst.post("/telemetry", json={"records": records})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(records)

    after = wait_for(analyst, lambda b: b["devices"]["online"] >= before["devices"]["online"] + 2)
    assert after["devices"]["online"] == before["devices"]["online"] + 2
    assert after["devices"]["total"] == registered["devices"]["total"]
    # Bytes: 16 per stored datapoint (docs/analytics.md); the datapoints as telemetry reports them.
    stored = 0
    for device in temperatures:
        history = analyst.get(
            f"/devices/{device}/history",
            params={"startDate": iso(start), "endDate": iso(start + 10 * MINUTE), "aggregation": "raw"},
        )
        assert history.status_code == 200, history.text
        stored += sum(len(point) - 1 for point in history.json()["data"])
    assert stored >= len(records) * 2
    added = after["dataVolume"]["today"] - before["dataVolume"]["today"]
    assert added == 16 * stored
    assert after["dataVolume"]["thisMonth"] >= after["dataVolume"]["today"]

    # The query: 5-minute buckets over the readings, every function checked against Python's own sums.
    window = {"startTime": iso(start), "endTime": iso(start + 10 * MINUTE)}
    for function, compute in {
        "avg": statistics.fmean,
        "max": max,
        "min": min,
        "sum": sum,
        "count": len,
        "p50": statistics.median,
    }.items():
        body = {
            "deviceIds": list(temperatures),
            "metrics": ["temperature", "humidity"],
            **window,
            "aggregation": {"interval": "5m", "function": function},
        }
        answer = analyst.post("/analytics/query", json=body)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["aggregation"] == {"interval": "5m", "function": function}
        assert [(s["deviceId"], s["metric"]) for s in result["series"]] == [
            (d, m) for d in temperatures for m in ("temperature", "humidity")
        ]
        for series in result["series"]:
            if series["metric"] != "temperature":
                continue
            buckets: dict[int, list[float]] = {}
            for i, value in enumerate(temperatures[series["deviceId"]]):
                at = start + i * MINUTE
                buckets.setdefault(at - at % (5 * MINUTE), []).append(value)
            expected = [(iso(at), float(compute(values))) for at, values in sorted(buckets.items())]
            assert [p["timestamp"] for p in series["points"]] == [when.replace(".000Z", "Z") for when, _ in expected]
            assert [p["value"] for p in series["points"]] == pytest.approx([value for _, value in expected])
    # Query validation names the field.
    refused = analyst.post(
        "/analytics/query",
        json={
            "deviceIds": devices[:1],
            "metrics": ["temperature"],
            "startTime": iso(start),
            "endTime": iso(start - MINUTE),
            "aggregation": {"interval": "15m", "function": "median"},
        },
    )
    error = assert_error(refused, 400, "VALIDATION_ERROR")
    fields = {f["field"] for f in error["details"]["fields"]}
    assert fields == {"endTime", "aggregation.function"}


def test_another_organizations_device_is_not_visible(analyst: Api, other_org_admin: Api) -> None:
    foreign = str(register(other_org_admin)["deviceId"])
    mine = str(register(analyst)["deviceId"])
    now = int(time.time() * 1000)
    response = analyst.post(
        "/analytics/query",
        json={
            "deviceIds": [mine, foreign],
            "metrics": ["temperature"],
            "startTime": iso(now - 3_600_000),
            "endTime": iso(now),
            "aggregation": {"interval": "1h", "function": "avg"},
        },
    )
    error = assert_error(response, 404, "DEVICE_NOT_FOUND")
    assert foreign in error["message"]
    assert mine not in error["message"]


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
