"""The gateway under uvicorn on a real port: transcoding, readiness flipping with the upstream, docs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette

from services.runtime.server import start_grpc_server
from tests.integration.gateway.conftest import Mesh, bearer, gateway_app, registrations, serving
from tests.integration.gateway.fakes import FakeDevices, Recorder
from tests.support.tokens import TokenMinter
from tests.support.uvicorn import serving_app


@asynccontextmanager
async def uvicorn_serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """uvicorn serving `app` on a free port in this event loop, and a client pointed at it."""
    async with serving_app(app, lifespan="on") as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def wait_for_status(client: httpx.AsyncClient, path: str, status: int, seconds: float = 15) -> httpx.Response:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        response = await client.get(path)
        if response.status_code == status or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.1)


async def test_transcoding_over_a_real_socket(mesh: Mesh, token_minter: TokenMinter) -> None:
    mesh.devices.add("dev-1", name="Office")
    async with uvicorn_serving(gateway_app(token_minter, mesh.server.address)) as client:
        ok = await client.get("/devices/dev-1", headers=bearer(token_minter.mint()))
        missing = await client.get("/devices/dev-2", headers=bearer(token_minter.mint()))
        unknown = await client.get("/nowhere")
    assert ok.status_code == 200
    assert ok.json()["name"] == "Office"
    assert re.fullmatch(r"req-[0-9a-f]{16}", ok.headers["x-request-id"])
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "DEVICE_NOT_FOUND"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["requestId"] == unknown.headers["x-request-id"]


async def test_readiness_follows_the_upstream(token_minter: TokenMinter) -> None:
    recorder = Recorder()
    devices = FakeDevices(recorder)
    verifier = token_minter.verifier()
    server = await start_grpc_server(registrations(recorder, devices), host="127.0.0.1", port=0, verifier=verifier)
    port = int(server.address.rsplit(":", 1)[1])
    async with uvicorn_serving(gateway_app(token_minter, server.address)) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "upstreams": dict.fromkeys(ready.json()["upstreams"], "SERVING")}
        assert len(ready.json()["upstreams"]) == 7

        await server.stop(0)
        down = await wait_for_status(client, "/readyz", 503)
        assert down.status_code == 503
        error = down.json()["error"]
        assert error["code"] == "NOT_READY"
        assert error["details"]["notReady"] == sorted(error["details"]["upstreams"])  # all seven are down
        assert (await client.get("/healthz")).json() == {"status": "ok"}  # the process itself is fine

        server = await start_grpc_server(
            registrations(recorder, devices), host="127.0.0.1", port=port, verifier=verifier
        )
        try:
            assert (await wait_for_status(client, "/readyz", 200)).status_code == 200
        finally:
            await server.stop(0)


async def test_openapi_and_docs_are_served_offline(mesh: Mesh, token_minter: TokenMinter) -> None:
    async with serving(gateway_app(token_minter, mesh.server.address)) as client:
        openapi = await client.get("/openapi.json")
        legacy = await client.get("/openapi-3.0.json")
        docs = await client.get("/docs")
        asset_paths = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        assets = [await client.get(path) for path in asset_paths]
    assert openapi.status_code == 200
    assert openapi.json()["openapi"] == "3.1.0"
    assert "/devices/{deviceId}" in openapi.json()["paths"]
    assert legacy.json()["openapi"] == "3.0.3"
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi-3.0.json" in docs.text
    assert asset_paths
    assert all(path.startswith("/docs/assets/") for path in asset_paths)  # nothing from a CDN
    assert [a.status_code for a in assets] == [200] * len(assets)
    assert any("SwaggerUIBundle" in a.text for a in assets)
