"""FcmPushSender against a fake FCM (a Starlette app under uvicorn) that checks the OAuth2 grant and bearer."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.notification.adapters.push_fcm import SCOPE, AccessTokens, FcmPushSender, ServiceAccount
from services.notification.domain.errors import DeliveryFailed
from services.notification.domain.messages import PushContent
from tests.integration.notification.support import serving

PROJECT = "iotmon-test"
CONTENT = PushContent(title="Critical: Freezer", body="Lab-1: temperature > -10 (now -2)")
UNREGISTERED = {
    "error": {
        "code": 404,
        "status": "NOT_FOUND",
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}],
    }
}


@dataclass
class FakeFcm:
    """Grants tokens for a JWT signed by the account's key; records messages sent with a granted bearer."""

    public_key: Any
    client_email: str
    token_uri: str = ""
    granted: set[str] = field(default_factory=set)
    grants: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    revoke_next: bool = False

    def app(self) -> Starlette:
        async def token(request: Request) -> JSONResponse:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            try:
                claims = jwt.decode(form["assertion"], self.public_key, algorithms=["RS256"], audience=self.token_uri)
            except jwt.InvalidTokenError:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if claims["iss"] != self.client_email or claims["scope"] != SCOPE:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            self.grants += 1
            access = f"ya29.{secrets.token_hex(8)}"
            self.granted.add(access)
            return JSONResponse({"access_token": access, "expires_in": 3600, "token_type": "Bearer"})

        async def send(request: Request) -> JSONResponse:
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            if self.revoke_next:
                self.revoke_next = False
                self.granted.discard(bearer)
            if bearer not in self.granted or request.path_params["project"] != PROJECT:
                return JSONResponse({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, status_code=401)
            message = (await request.json())["message"]
            device = message["token"]
            if device.startswith("dead"):
                return JSONResponse(UNREGISTERED, status_code=404)
            if device.startswith("busy"):
                return JSONResponse({"error": {"code": 503, "status": "UNAVAILABLE"}}, status_code=503)
            self.messages.append(message)
            return JSONResponse({"name": f"projects/{PROJECT}/messages/{len(self.messages)}"})

        return Starlette(
            routes=[
                Route("/token", token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", send, methods=["POST"]),
            ]
        )


@pytest.fixture
async def fcm(tmp_path: Path) -> Any:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake = FakeFcm(key.public_key(), f"firebase-adminsdk@{PROJECT}.iam.gserviceaccount.com")
    async with serving(fake.app()) as base:
        fake.token_uri = f"{base}/token"
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        credentials = tmp_path / "service-account.json"
        credentials.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "private_key_id": "key-1",
                    "private_key": pem,
                    "client_email": fake.client_email,
                    "token_uri": fake.token_uri,
                }
            )
        )
        async with httpx.AsyncClient() as http:
            account = ServiceAccount.from_file(credentials)
            tokens = AccessTokens(http, account)
            yield fake, FcmPushSender(http, account, base_url=base, tokens=tokens), tokens


async def test_a_push_reaches_every_token_with_one_cached_grant(fcm: Any) -> None:
    fake, sender, tokens = fcm
    receipt = await sender.send(["phone-1", "phone-2"], CONTENT, "dlv-1")
    await sender.send(["phone-3"], CONTENT, "dlv-2")
    assert receipt.note == "FCM 2/2 tokens"
    assert sorted(m["token"] for m in fake.messages) == ["phone-1", "phone-2", "phone-3"]
    assert fake.messages[0]["notification"] == {"title": CONTENT.title, "body": CONTENT.body}
    assert fake.messages[0]["data"] == {"deliveryId": "dlv-1"}
    assert (fake.grants, tokens.fetched) == (1, 1)


async def test_an_unregistered_token_is_skipped_when_another_one_works(fcm: Any) -> None:
    fake, sender, _ = fcm
    receipt = await sender.send(["dead-1", "phone-1"], CONTENT, "dlv-1")
    assert receipt.note == "FCM 1/2 tokens, 1 refused"
    assert [m["token"] for m in fake.messages] == ["phone-1"]


async def test_only_unregistered_tokens_fail_for_good(fcm: Any) -> None:
    _, sender, _ = fcm
    with pytest.raises(DeliveryFailed) as failure:
        await sender.send(["dead-1", "dead-2"], CONTENT, "dlv-1")
    assert not failure.value.retryable
    assert "UNREGISTERED" in failure.value.message


async def test_an_unavailable_fcm_is_worth_retrying(fcm: Any) -> None:
    _, sender, _ = fcm
    with pytest.raises(DeliveryFailed) as failure:
        await sender.send(["busy-1", "dead-1"], CONTENT, "dlv-1")
    assert failure.value.retryable


async def test_a_revoked_access_token_is_replaced_once(fcm: Any) -> None:
    fake, sender, _ = fcm
    await sender.send(["phone-1"], CONTENT, "dlv-1")
    fake.revoke_next = True
    await sender.send(["phone-2"], CONTENT, "dlv-2")
    assert [m["token"] for m in fake.messages] == ["phone-1", "phone-2"]
    assert fake.grants == 2


async def test_a_grant_signed_by_another_key_is_refused(fcm: Any, tmp_path: Path) -> None:
    fake, _, _ = fcm
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    impostor = ServiceAccount(PROJECT, fake.client_email, pem, fake.token_uri)
    async with httpx.AsyncClient() as http:
        with pytest.raises(DeliveryFailed) as failure:
            await AccessTokens(http, impostor).token()
    assert (failure.value.message, failure.value.retryable) == ("FCM token refused: HTTP 400", False)
    assert fake.grants == 0
