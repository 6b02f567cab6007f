"""Every error path answers the §8.2 body with the request id, from the gateway itself or from a service."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.gateway.conftest import Mesh, bearer, gateway_app, serving
from tests.support.servers import free_port
from tests.support.tokens import AUDIENCE, ISSUER, TokenMinter


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the status and the §8.2 shape; return the error object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details", "requestId"}
    assert error["code"] == code
    assert error["requestId"] == response.headers["x-request-id"]
    assert error["requestId"]
    return error


async def test_unknown_body_field_is_400_naming_it(client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]) -> None:
    mesh.devices.add("dev-1")
    response = await client.put("/devices/dev-1", headers=auth, json={"name": "x", "firmwareVersion": "v9"})
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "firmwareVersion" in error["message"]
    assert error["details"]["fields"][0]["field"] == "firmwareVersion"
    assert mesh.recorder.requests == []  # refused before reaching the service


async def test_bad_query_value_is_400_naming_it(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    error = error_of(await client.get("/devices?pageSize=abc", headers=auth), 400, "VALIDATION_ERROR")
    assert error["details"]["fields"][0]["field"] == "pageSize"


async def test_invalid_json_is_400(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post("/devices", headers={**auth, "content-type": "application/json"}, content=b"{nope")
    error_of(response, 400, "INVALID_JSON")


async def test_wrong_json_types_are_400(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post("/devices", headers=auth, json={"location": {"lat": "north"}})
    assert "lat" in error_of(response, 400, "VALIDATION_ERROR")["message"]


async def test_validation_errors_from_the_service_keep_their_fields(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post("/devices", headers=auth, json={"deviceType": "t", "name": "ab"})
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert error["details"] == {"fields": [{"field": "name", "description": "must be 3-100 characters"}]}


async def test_missing_token_is_401_without_calling_the_service(client: httpx.AsyncClient, mesh: Mesh) -> None:
    response = await client.get("/devices/dev-1")
    error_of(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert mesh.recorder.requests == []


def forged_token() -> str:
    """Right claims and key id, signed by a key nobody trusts."""
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {
        "sub": "user-1",
        "custom:organizationId": "org-1",
        "custom:role": "admin",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(time.time()) + 3600,
    }
    return jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "test-key"})


def unsigned_token() -> str:
    """alg: none — a classic forgery."""
    header = {"alg": "none", "typ": "JWT", "kid": "test-key"}
    claims = {"sub": "user-1", "custom:organizationId": "org-1", "custom:role": "admin", "iss": ISSUER, "aud": AUDIENCE}
    claims["exp"] = int(time.time()) + 3600

    def part(value: dict[str, Any]) -> str:
        return jwt.utils.base64url_encode(json.dumps(value).encode()).decode()

    return f"{part(header)}.{part(claims)}."


@pytest.mark.parametrize(
    ("make_header", "code"),
    [
        (lambda minter: bearer(minter.mint(ttl=-3600)), "TOKEN_EXPIRED"),
        (lambda minter: bearer(forged_token()), "INVALID_TOKEN"),
        (lambda minter: bearer(unsigned_token()), "INVALID_TOKEN"),
        (lambda minter: bearer("not-a-jwt"), "INVALID_TOKEN"),
        (lambda minter: {"Authorization": "Basic dXNlcjpwYXNz"}, "INVALID_TOKEN"),
    ],
    ids=["expired", "forged", "alg-none", "garbage", "basic"],
)
async def test_bad_tokens_are_401_without_calling_the_service(
    client: httpx.AsyncClient, mesh: Mesh, token_minter: TokenMinter, make_header: Any, code: str
) -> None:
    mesh.devices.add("dev-1")
    response = await client.get("/devices/dev-1", headers=make_header(token_minter))
    error_of(response, 401, code)
    assert response.headers["www-authenticate"] == 'Bearer realm="iotmon", error="invalid_token"'
    assert mesh.recorder.requests == []


async def test_forbidden_is_403(client: httpx.AsyncClient, mesh: Mesh, token_minter: TokenMinter) -> None:
    mesh.devices.add("dev-1")
    response = await client.delete("/devices/dev-1", headers=bearer(token_minter.mint(role="viewer")))
    error = error_of(response, 403, "FORBIDDEN")
    assert error["details"] == {"requiredRole": "admin", "role": "viewer"}


async def test_upstream_not_found_is_404_with_details(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    error = error_of(await client.get("/devices/dev-abc123", headers=auth), 404, "DEVICE_NOT_FOUND")
    assert error["message"] == "Device with ID 'dev-abc123' not found"
    assert error["details"] == {"deviceId": "dev-abc123"}


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    error = error_of(await client.get("/no/such/thing"), 404, "ROUTE_NOT_FOUND")
    assert "/no/such/thing" in error["message"]


async def test_wrong_method_is_405(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.patch("/devices/dev-1", headers=auth, json={})
    error_of(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "DELETE, GET, PUT"
    fixed = await client.post("/healthz")
    error_of(fixed, 405, "METHOD_NOT_ALLOWED")


async def test_conflicts_are_409(client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]) -> None:
    device = {"deviceType": "t", "name": "sensor", "metadata": {"serialNumber": "SN1"}}
    assert (await client.post("/devices", headers=auth, json=device)).status_code == 201
    duplicate = error_of(await client.post("/devices", headers=auth, json=device), 409, "DEVICE_ALREADY_EXISTS")
    assert duplicate["details"] == {"serialNumber": "SN1", "deviceId": "dev-1"}
    mesh.devices.add("dev-busy", tags=["alerting"])
    refused = error_of(await client.delete("/devices/dev-busy", headers=auth), 409, "DEVICE_HAS_ACTIVE_ALERTS")
    assert refused["details"] == {"activeAlerts": "2"}


async def test_body_over_one_mib_is_413(client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]) -> None:
    big = {"name": "x" * (1024 * 1024)}
    error_of(await client.post("/devices", headers=auth, json=big), 413, "PAYLOAD_TOO_LARGE")

    async def chunks() -> Any:  # no Content-Length: the limit holds while streaming
        for _ in range(20):
            yield b" " * 65536

    streamed = await client.post("/devices", headers=auth, content=chunks())
    error_of(streamed, 413, "PAYLOAD_TOO_LARGE")
    assert mesh.recorder.requests == []


async def test_upstream_size_and_rate_limits(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    error_of(await client.get("/devices/huge", headers=auth), 413, "PAYLOAD_TOO_LARGE")
    limited = await client.get("/devices/busy", headers=auth)
    error_of(limited, 429, "RATE_LIMITED")
    assert limited.headers["retry-after"] == "1"


async def test_placeholder_service_is_501(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post("/firmware/upload", headers=auth, json={"version": "v1"})
    error = error_of(response, 501, "NOT_IMPLEMENTED")
    assert error["details"] == {"method": "iot.firmware.v1.FirmwareService.UploadFirmware"}


async def test_unexpected_upstream_failure_is_a_generic_500(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.get("/devices/boom", headers=auth)
    error = error_of(response, 500, "INTERNAL")
    assert error["message"] == "internal error"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


async def test_slow_upstream_is_504(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    started = time.monotonic()
    error = error_of(await client.get("/devices/slow", headers=auth), 504, "UPSTREAM_UNAVAILABLE")
    assert time.monotonic() - started < 3  # the deadline (1 s in these tests) cut the call short
    assert error["message"] == "the device service did not answer in time"


async def test_upstream_down_is_503(token_minter: TokenMinter, auth: dict[str, str]) -> None:
    async with serving(gateway_app(token_minter, f"127.0.0.1:{free_port()}")) as client:
        response = await client.get("/devices/dev-1", headers=auth)
    error = error_of(response, 503, "UPSTREAM_UNAVAILABLE")
    assert error["message"] == "the device service is unavailable"
    assert "127.0.0.1" not in response.text
