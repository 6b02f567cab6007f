"""Forged, stale and misdirected tokens: every one is a 401 with the §8.2 body on the REST API, on a route of
every service, and a 4401 close on /ws. Nothing reaches a service with them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.test_errors_and_auth import attack_tokens, claims, signing_key
from tests.hardening.world import World
from tests.support.mesh import RunningMesh

# One read route per service behind the gateway.
PROBES = ["/devices", "/alerts", "/telemetry/dead-letters", "/notifications/deliveries", "/firmware", "/users/me"]
PROBES += ["/analytics/dashboard"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(secret: bytes, payload: dict[str, Any], kid: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64(json.dumps(payload).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def tokens(mesh: RunningMesh) -> dict[str, str]:
    key, kid = signing_key(mesh)
    public_pem = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    attacks = attack_tokens(mesh)
    now = int(time.time())
    attacks |= {
        "expired long ago": jwt.encode(claims(iat=now - 7200, exp=now - 3600), key, "RS256", headers={"kid": kid}),  # type: ignore[arg-type]
        "no expiry": jwt.encode({k: v for k, v in claims().items() if k != "exp"}, key, "RS256", headers={"kid": kid}),  # type: ignore[arg-type]
        "unknown kid": jwt.encode(claims(), key, "RS256", headers={"kid": "kid-nobody-knows"}),  # type: ignore[arg-type]
        "HS256 with the public key PEM": _hs256(public_pem, claims(), kid),
        "service role from the user issuer": jwt.encode(
            claims(**{"custom:role": "service", "custom:organizationId": "*"}),
            key,  # type: ignore[arg-type]
            "RS256",
            headers={"kid": kid},
        ),
        "unknown role": jwt.encode(claims(**{"custom:role": "root"}), key, "RS256", headers={"kid": kid}),  # type: ignore[arg-type]
    }
    return attacks


ATTACKS = [
    "expired",
    "expired long ago",
    "not yet valid",
    "no expiry",
    "wrong issuer",
    "wrong audience",
    "forged by another key",
    "unknown kid",
    "alg none",
    "HS256 with the public key",
    "HS256 with the public key PEM",
    "tampered payload",
    "service role from the user issuer",
    "unknown role",
    "garbage",
]


def assert_401(response: httpx.Response, what: str) -> dict[str, Any]:
    assert response.status_code == 401, f"{what}: {response.status_code} {response.text}"
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details", "requestId"}, what
    assert error["code"] in ("UNAUTHENTICATED", "INVALID_TOKEN", "TOKEN_EXPIRED"), what
    assert error["message"], what
    assert error["requestId"] == response.headers["x-request-id"], what
    assert response.headers["www-authenticate"].startswith("Bearer"), what
    return error


@pytest.fixture(scope="module")
def forged(mesh: RunningMesh) -> dict[str, str]:
    return tokens(mesh)


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_bad_token_is_401_on_every_service(world: World, forged: dict[str, str], attack: str) -> None:
    headers = {"Authorization": f"Bearer {forged[attack]}"}
    for path in PROBES:
        error = assert_401(world.anonymous.get(path, headers=headers), f"{attack} on {path}")
        expected = "TOKEN_EXPIRED" if attack.startswith("expired") else "INVALID_TOKEN"
        assert error["code"] == expected, f"{attack} on {path}: {error}"
    # A write as well: nothing may be created with it.
    body = {"deviceType": "temperature-sensor-v2", "name": "Forged-Device"}
    assert_401(world.anonymous.post("/devices", json=body, headers=headers), f"{attack} on POST /devices")


@pytest.mark.parametrize(
    "header",
    [
        "Token {token}",
        "Basic {basic}",
        "{token}",
        "Bearer",
        "Bearer {token} {token}",
        "Bearer{token}",
        "JWT {token}",
    ],
)
def test_the_token_in_the_wrong_header_form_is_401(world: World, header: str) -> None:
    token = world.mesh.token(org="org-a", role="admin")
    basic = base64.b64encode(f"admin:{token}".encode()).decode()
    value = header.format(token=token, basic=basic)
    assert_401(world.anonymous.get("/devices", headers={"Authorization": value}), repr(value))


def test_a_token_in_the_query_string_is_not_accepted_by_the_rest_api(world: World) -> None:
    token = world.mesh.token(org="org-a", role="admin")
    response = world.anonymous.get("/devices", params={"token": token})
    assert response.status_code in (400, 401), response.text  # an unknown query parameter, never a login
    assert response.json()["error"]["requestId"]


def _ws_close(mesh: RunningMesh, url_suffix: str, **options: Any) -> tuple[int | None, str]:
    url = mesh.gateway.replace("http://", "ws://") + "/ws" + url_suffix
    with connect(url, open_timeout=10, **options) as ws:
        try:
            ws.recv(timeout=10)
        except ConnectionClosed as closed:
            frame = closed.rcvd
            return (frame.code, frame.reason) if frame else (None, "")
    raise AssertionError("the connection stayed open")


@pytest.mark.parametrize("attack", ["expired", "alg none", "HS256 with the public key PEM", "tampered payload"])
def test_a_bad_token_closes_the_websocket_with_4401(world: World, forged: dict[str, str], attack: str) -> None:
    token = forged[attack]
    for suffix, options in (
        (f"?token={token}", {}),
        ("", {"additional_headers": {"Authorization": f"Bearer {token}"}}),
        ("", {"subprotocols": ["bearer", token]}),
    ):
        code, reason = _ws_close(world.mesh, suffix, **options)
        assert code == 4401, f"{attack} via {suffix or options}: {code} {reason}"
        assert reason


def test_no_token_closes_the_websocket_with_4401(world: World) -> None:
    code, _ = _ws_close(world.mesh, "")
    assert code == 4401
