"""HTTP → gRPC → HTTP through the gateway and a real gRPC port: paths, queries, bodies, metadata, shapes."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.integration.gateway.conftest import Mesh, bearer
from tests.support.tokens import TokenMinter


async def test_get_device_returns_the_device_itself(
    client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]
) -> None:
    mesh.devices.add("dev-abc123", name="Office-Temp-Sensor-1", type="temperature-sensor-v2", firmware_version="v2.1.0")
    response = await client.get("/devices/dev-abc123", headers=auth)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["deviceId"] == "dev-abc123"  # response_body "device": no {"device": ...} wrapper
    assert body["type"] == "temperature-sensor-v2"
    assert body["firmwareVersion"] == "v2.1.0"
    assert body["tags"] == []  # fields without presence print even when empty
    assert "lastSeen" not in body  # an unset message stays out
    assert mesh.recorder.last.device_id == "dev-abc123"


async def test_register_answers_201_with_the_whole_reply(
    client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]
) -> None:
    payload = {
        "deviceType": "temperature-sensor-v2",
        "name": "Office-Temp-Sensor-1",
        "location": {"lat": 37.7749, "lon": -122.4194, "address": "Office 301, Building A"},
        "connectivity": {"type": "cellular", "simId": "sim-123456"},
        "metadata": {"manufacturer": "SensorCorp", "serialNumber": "SN123456789"},
        "tags": ["office", "building-a"],
    }
    response = await client.post("/devices", headers=auth, json=payload)
    assert response.status_code == 201
    assert response.json() == {
        "deviceId": "dev-1",
        "name": "Office-Temp-Sensor-1",
        "status": "registered",
        "createdAt": "2025-11-15T10:00:00Z",
    }
    request = mesh.recorder.last
    assert request.location.lat == 37.7749
    assert request.connectivity.sim_id == "sim-123456"
    assert list(request.tags) == ["office", "building-a"]


async def test_list_query_parameters_reach_the_service_and_empty_values_print(
    client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]
) -> None:
    response = await client.get(
        "/devices?status=online&deviceType=temperature-sensor-v2&tags=a&tags=b&page=2&page_size=10&sortBy=name",
        headers=auth,
    )
    assert response.status_code == 200
    request = mesh.recorder.last
    assert (request.status, request.device_type, list(request.tags)) == ("online", "temperature-sensor-v2", ["a", "b"])
    assert (request.page, request.page_size, request.sort_by) == (2, 10, "name")
    body = response.json()
    assert body["items"] == []
    assert body["pagination"] == {
        "page": 2,
        "pageSize": 10,
        "totalItems": 0,
        "totalPages": 1,
        "hasNext": False,
        "hasPrevious": False,
    }
    assert body["filters"] == {"status": "online"}


async def test_history_query_converts_timestamps_and_repeated_metrics(
    client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]
) -> None:
    response = await client.get(
        "/devices/dev-9/history",
        params=[
            ("startDate", "2025-11-14T10:00:00Z"),
            ("endDate", "2025-11-15T10:00:00+00:00"),
            ("metrics", "temperature"),
            ("metrics", "humidity"),
            ("aggregation", "15m"),
        ],
        headers=auth,
    )
    assert response.status_code == 200
    assert response.json() == {
        "deviceId": "dev-9",
        "timeRange": {"start": "2025-11-14T10:00:00Z", "end": "2025-11-15T10:00:00Z"},
        "metrics": ["temperature", "humidity"],
        "aggregation": "15m",
        "data": [],
    }


async def test_put_merges_path_and_body(client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]) -> None:
    mesh.devices.add("dev-1", name="old")
    response = await client.put("/devices/dev-1", headers=auth, json={"name": "new", "tags": ["x"]})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["tags"]) == ("new", ["x"])
    assert mesh.recorder.last.device_id == "dev-1"


async def test_body_field_rule_takes_the_body_as_that_field(
    client: httpx.AsyncClient, mesh: Mesh, token_minter: TokenMinter
) -> None:
    token = token_minter.mint(org="org-7", role="operator", user="user-456")
    preferences = {"notifications": {"email": True, "sms": False}, "quietHours": {"enabled": True, "start": "22:00"}}
    response = await client.put("/users/me/preferences", headers=bearer(token), json=preferences)
    assert response.status_code == 200
    user = response.json()
    assert (user["userId"], user["organizationId"], user["role"]) == ("user-456", "org-7", "operator")
    assert user["preferences"]["quietHours"] == {"enabled": True, "start": "22:00"}
    assert user["preferences"]["notifications"] == {"email": True, "sms": False}


async def test_anonymous_methods_need_no_token(client: httpx.AsyncClient, mesh: Mesh) -> None:
    response = await client.post("/auth/token", json={"email": "a@b.c", "password": "pw"})
    assert response.status_code == 200
    assert response.json() == {"accessToken": "issued", "tokenType": "Bearer", "expiresIn": 3600}
    assert "authorization" not in mesh.recorder.metadata[-1]


async def test_metadata_is_forwarded(client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]) -> None:
    mesh.devices.add("dev-1")
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    headers = {**auth, "X-Request-Id": "client-req.42", "traceparent": traceparent}
    response = await client.get("/devices/dev-1", headers=headers)
    assert response.headers["x-request-id"] == "client-req.42"
    metadata = mesh.recorder.metadata[-1]
    assert metadata["authorization"] == auth["Authorization"]
    assert metadata["x-request-id"] == "client-req.42"
    assert metadata["traceparent"] == traceparent


async def test_unsafe_forwarded_headers_are_dropped_not_fatal(
    client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]
) -> None:
    mesh.devices.add("dev-1")
    response = await client.get("/devices/dev-1", headers={**auth, "traceparent": "00-ü-01".encode()})
    assert response.status_code == 200
    assert "traceparent" not in mesh.recorder.metadata[-1]
    anonymous = await client.post("/auth/token", headers={"Authorization": "Bearer ü".encode()}, json={})
    assert anonymous.status_code == 200
    assert "authorization" not in mesh.recorder.metadata[-1]


@pytest.mark.parametrize("given", [None, "x" * 65, "bad id!", "id;drop", "ünïcode".encode()])
async def test_request_ids_are_generated_when_missing_or_unsafe(
    client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str], given: str | bytes | None
) -> None:
    mesh.devices.add("dev-1")
    headers: dict[str, str | bytes] = {**auth, **({"X-Request-Id": given} if given else {})}
    response = await client.get("/devices/dev-1", headers=headers)
    request_id = response.headers["x-request-id"]
    assert request_id != given
    assert request_id.startswith("req-")
    assert len(request_id) == 20
    assert mesh.recorder.metadata[-1]["x-request-id"] == request_id


async def test_one_access_log_line_per_request(
    client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    mesh.devices.add("dev-1")
    with caplog.at_level(logging.INFO, logger="iotmon.http"):
        await client.get("/devices/dev-1", headers={**auth, "X-Request-Id": "req-log-1"})
        await client.get("/healthz")
    lines = [r for r in caplog.records if r.name == "iotmon.http"]
    assert len(lines) == 2
    first, second = lines
    assert (first.method, first.path, first.status, first.requestId) == (  # type: ignore[attr-defined]
        "GET",
        "/devices/{device_id}",
        200,
        "req-log-1",
    )
    assert first.durationMs > 0  # type: ignore[attr-defined]
    assert (second.path, second.status) == ("/healthz", 200)  # type: ignore[attr-defined]
