"""Request limits on real ports: oversized bodies are a 413 and too many requests with one token a 429, both
in the §8.2 format, answered without reading the rest of the body, while other callers are still served.

The 413s go to the suite's `iotmon up` (IOTMON_GATEWAY_MAX_BODY_BYTES, 1 MiB by default). The 429s need a
tight limit, so a second gateway (create_app, as `iotmon up` builds it) with 5 requests of burst and 1 per
second runs in front of the same services.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import MIB, GatewaySettings
from services.runtime.settings import RuntimeSettings
from tests.hardening.world import World
from tests.support.uvicorn import serving_app

LIMIT = MIB  # the gateway's default max_body_bytes
BURST = 5


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details", "requestId"}
    assert error["code"] == code
    assert error["message"]
    assert error["requestId"] == response.headers["x-request-id"]
    return error


# -- 413 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/devices", "/telemetry", "/alert-rules"])
def test_an_oversized_body_is_413(world: World, path: str) -> None:
    admin = world.orgs["org-a"].admin
    body = b'{"name": "' + b"x" * (LIMIT + 1) + b'"}'
    error = assert_error(
        admin.post(path, content=body, headers={"content-type": "application/json"}), 413, "PAYLOAD_TOO_LARGE"
    )
    assert error["details"] == {"maxBytes": str(LIMIT)}


def test_an_oversized_chunked_body_is_413(world: World) -> None:
    admin = world.orgs["org-a"].admin

    def chunks() -> Any:
        for _ in range(4 * LIMIT // 65536):
            yield b" " * 65536

    response = admin.post("/devices", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers  # sent chunked
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_a_body_at_the_limit_is_read(world: World) -> None:
    admin = world.orgs["org-a"].admin
    body = b" " * (LIMIT - 2) + b"{}"
    response = admin.post("/devices", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text  # read and parsed: a validation error, not a 413
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def _raw_request(world: World, head: str, body: bytes, timeout: float = 5) -> tuple[bytes, float]:
    """Send the head and part of a body, then stop sending; return what the gateway answers and how fast."""
    address = urlsplit(world.mesh.gateway)
    token = world.mesh.token(org="org-a", role="admin")
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(head.format(host=address.netloc, token=token).encode() + body)
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received, time.monotonic() - started


def test_a_declared_length_over_the_limit_is_refused_before_the_body(world: World) -> None:
    head = (
        "POST /devices HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {100 * LIMIT}\r\n\r\n"
    )
    answer, seconds = _raw_request(world, head, b"")  # not one byte of the 100 MiB is sent
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"PAYLOAD_TOO_LARGE"' in answer
    assert seconds < 5


def test_a_chunked_body_is_cut_off_at_the_limit_without_waiting_for_its_end(world: World) -> None:
    head = (
        "POST /devices HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b" " * 65536
    body = b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(LIMIT // len(chunk) + 2))
    answer, seconds = _raw_request(world, head, body)  # no last chunk: the body never ends
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"requestId"' in answer
    assert seconds < 5


def test_the_gateway_keeps_serving_after_refusing_bodies(world: World) -> None:
    assert world.orgs["org-a"].apis["viewer"].get("/devices").status_code == 200


# -- 429 ------------------------------------------------------------------------------------------------------


@pytest.fixture
async def tight_gateway(world: World) -> AsyncIterator[str]:
    settings = RuntimeSettings(data_dir=world.mesh.data_dir)
    options = GatewaySettings(rate_limit_per_second=1, rate_limit_burst=BURST)
    app = create_app(settings, addresses=world.mesh.addresses, gateway_settings=options)
    async with serving_app(app, lifespan="on") as url:
        yield url


def _client(url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


async def test_too_many_requests_with_one_token_are_429_and_others_are_served(world: World, tight_gateway: str) -> None:
    mesh = world.mesh
    org = world.orgs["org-a"]
    greedy = _client(tight_gateway, mesh.token(org="org-a", role="viewer", user=org.users["viewer"]))
    other_user = _client(tight_gateway, mesh.token(org="org-a", role="operator", user=org.users["operator"]))
    other_org = _client(tight_gateway, mesh.token(org="org-b", role="viewer", user=world.orgs["org-b"].users["viewer"]))
    async with greedy, other_user, other_org:
        burst = [await greedy.get("/devices") for _ in range(BURST)]
        assert [r.status_code for r in burst] == [200] * BURST

        refused = await greedy.get("/devices")
        error = assert_error(refused, 429, "RATE_LIMITED")
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 2
        assert error["details"]["retryAfterSeconds"] == str(retry_after)

        # A flood from the greedy token is refused as a whole; the others go through meanwhile.
        flood = [greedy.get("/devices") for _ in range(40)]
        served = [other_user.get("/devices") for _ in range(BURST)] + [other_org.get("/alerts")]
        started = time.monotonic()
        results = await asyncio.gather(*flood, *served)
        refilled = int(time.monotonic() - started) + 1  # tokens the greedy bucket may have got back meanwhile
        flood_statuses = [r.status_code for r in results[:40]]
        assert set(flood_statuses) <= {200, 429}
        assert flood_statuses.count(200) <= refilled
        assert [r.status_code for r in results[40:]] == [200] * (BURST + 1)

        # Refused requests do not count: after Retry-After the token may call again.
        await asyncio.sleep(retry_after + 0.1)
        assert (await greedy.get("/devices")).status_code == 200


async def test_a_bad_token_is_401_not_429(world: World, tight_gateway: str) -> None:
    async with _client(tight_gateway, "not.a.jwt") as forged:
        answers = [await forged.get("/devices") for _ in range(BURST + 3)]
    assert {a.status_code for a in answers} == {401}


async def test_the_same_user_with_two_tokens_shares_one_bucket(world: World, tight_gateway: str) -> None:
    """Minting a new token does not buy more requests: the bucket belongs to the organization and subject."""
    mesh, user = world.mesh, world.orgs["org-b"].users["admin"]
    first = _client(tight_gateway, mesh.token(org="org-b", role="admin", user=user))
    second = _client(tight_gateway, mesh.token(org="org-b", role="admin", user=user, email="again@org-b.example"))
    async with first, second:
        assert [(await first.get("/devices")).status_code for _ in range(BURST)] == [200] * BURST
        assert_error(await second.get("/devices"), 429, "RATE_LIMITED")
