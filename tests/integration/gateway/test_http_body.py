"""POST /telemetry through the gateway: the body reaches the service as sent, within the size limit."""

from __future__ import annotations

import httpx

from tests.integration.gateway.conftest import Mesh, gateway_app, serving
from tests.support.tokens import TokenMinter


async def test_the_raw_body_and_its_content_type_reach_the_service(
    client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]
) -> None:
    body = b'{"records": [{"deviceId": "dev-1", "timestamp": 1700000000000, "data": {"temperature": 23.5}}]}'
    response = await client.post("/telemetry", headers=auth | {"content-type": "application/json"}, content=body)
    assert response.status_code == 200
    assert response.json() == {"accepted": len(body), "failed": []}
    request = mesh.recorder.last
    assert (request.payload.data, request.payload.content_type) == (body, "application/json")
    assert mesh.recorder.metadata[-1]["authorization"] == auth["Authorization"]


async def test_the_gateway_does_not_parse_it_the_service_does(
    client: httpx.AsyncClient, mesh: Mesh, auth: dict[str, str]
) -> None:
    body = b'{"records": [bad'  # not JSON: the service decides what that means
    response = await client.post("/telemetry", headers=auth, content=body)
    assert response.status_code == 200
    assert response.json()["failed"] == [{"index": 0, "reason": "OUT_OF_RANGE", "message": "bad"}]
    assert mesh.recorder.last.payload.data == body


async def test_the_size_limit_still_applies(mesh: Mesh, token_minter: TokenMinter, auth: dict[str, str]) -> None:
    async with serving(gateway_app(token_minter, mesh.server.address, max_body_bytes=64)) as client:
        response = await client.post("/telemetry", headers=auth, content=b"{" + b" " * 100 + b"}")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_token_is_still_required(client: httpx.AsyncClient) -> None:
    response = await client.post("/telemetry", content=b"{}")
    assert response.status_code == 401
