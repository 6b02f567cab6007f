"""PushSender on Firebase Cloud Messaging HTTP v1 (httpx), authorised with a service account.

The OAuth2 access token comes from the service account's key: an RS256-signed JWT grant (pyjwt) posted to
the account's token_uri, cached until a minute before it expires (and dropped on a 401). One message per
device token, in parallel; the delivery counts as sent when any token took it. Unregistered or invalid
tokens are permanent failures; 429 and 5xx are worth retrying. The base URL is configurable so tests (and
the FCM emulator) can stand in for fcm.googleapis.com.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

from services.notification.domain.errors import DeliveryFailed
from services.notification.domain.messages import PushContent, SendReceipt

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# FCM's error codes for a token that will never work again.
DEAD_TOKEN_CODES = frozenset({"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"})


@dataclass(frozen=True)
class ServiceAccount:
    project_id: str
    client_email: str
    private_key: str
    token_uri: str
    private_key_id: str = ""

    @classmethod
    def from_file(cls, path: Path) -> ServiceAccount:
        data = json.loads(path.read_text())
        return cls(
            project_id=data["project_id"],
            client_email=data["client_email"],
            private_key=data["private_key"],
            token_uri=data.get("token_uri", "https://oauth2.googleapis.com/token"),
            private_key_id=data.get("private_key_id", ""),
        )


class AccessTokens:
    """OAuth2 access tokens for the account, fetched once and shared until they near expiry."""

    def __init__(self, http: httpx.AsyncClient, account: ServiceAccount, clock: Callable[[], float] = time.time):
        self._http = http
        self._account = account
        self._clock = clock
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetched = 0

    async def token(self) -> str:
        if self._clock() < self._expires_at - 60:
            return self._token
        async with self._lock:
            if self._clock() >= self._expires_at - 60:
                await self._fetch()
        return self._token

    def invalidate(self) -> None:
        self._expires_at = 0.0

    async def _fetch(self) -> None:
        account, now = self._account, int(self._clock())
        claims = {"iss": account.client_email, "scope": SCOPE, "aud": account.token_uri, "iat": now, "exp": now + 3600}
        headers = {"kid": account.private_key_id} if account.private_key_id else None
        assertion = jwt.encode(claims, account.private_key, algorithm="RS256", headers=headers)
        try:
            response = await self._http.post(account.token_uri, data={"grant_type": JWT_GRANT, "assertion": assertion})
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"FCM token endpoint unreachable: {error!r}", retryable=True) from None
        if response.status_code != 200:
            retryable = response.status_code >= 500 or response.status_code == 429
            raise DeliveryFailed(f"FCM token refused: HTTP {response.status_code}", retryable=retryable)
        body = response.json()
        self._token = body["access_token"]
        self._expires_at = now + float(body.get("expires_in", 3600))
        self.fetched += 1


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    detail: str
    retryable: bool = False


class FcmPushSender:
    def __init__(
        self,
        http: httpx.AsyncClient,
        account: ServiceAccount,
        *,
        base_url: str = "https://fcm.googleapis.com",
        timeout_seconds: float = 5.0,
        tokens: AccessTokens | None = None,
    ):
        self._http = http
        self._url = f"{base_url.rstrip('/')}/v1/projects/{account.project_id}/messages:send"
        self._timeout = timeout_seconds
        self._tokens = tokens or AccessTokens(http, account)

    async def send(self, tokens: Sequence[str], content: PushContent, delivery_id: str) -> SendReceipt:
        if not tokens:
            raise DeliveryFailed("no device token", retryable=False)
        outcomes = await asyncio.gather(*(self._send_one(t, content, delivery_id) for t in tokens))
        accepted = [o for o in outcomes if o.ok]
        if not accepted:
            first = outcomes[0]
            raise DeliveryFailed(f"FCM: {first.detail}", retryable=any(o.retryable for o in outcomes))
        refused = len(outcomes) - len(accepted)
        note = f"FCM {len(accepted)}/{len(outcomes)} tokens" + (f", {refused} refused" if refused else "")
        return SendReceipt(note=note)

    async def _send_one(self, device_token: str, content: PushContent, delivery_id: str) -> _Outcome:
        message = {
            "message": {
                "token": device_token,
                "notification": {"title": content.title, "body": content.body},
                "data": {"deliveryId": delivery_id},
                "android": {"priority": "high"},
                "apns": {"headers": {"apns-priority": "10"}},
            }
        }
        try:
            response = await self._post(message)
            if response.status_code == 401:  # the cached access token was revoked or expired early
                self._tokens.invalidate()
                response = await self._post(message)
        except DeliveryFailed as failure:
            return _Outcome(False, failure.message, failure.retryable)
        except httpx.TimeoutException:
            return _Outcome(False, "timed out", retryable=True)
        except httpx.TransportError as error:
            return _Outcome(False, f"unreachable: {error!r}", retryable=True)
        if response.status_code == 200:
            return _Outcome(True, str(response.json().get("name", "")))
        code = _error_code(response)
        retryable = response.status_code >= 500 or response.status_code == 429
        if code in DEAD_TOKEN_CODES or response.status_code == 404:
            return _Outcome(False, f"token {code or 'NOT_FOUND'} (HTTP {response.status_code})")
        return _Outcome(False, f"HTTP {response.status_code} {code}".strip(), retryable)

    async def _post(self, message: dict[str, Any]) -> httpx.Response:
        bearer = await self._tokens.token()
        return await self._http.post(
            self._url, json=message, headers={"Authorization": f"Bearer {bearer}"}, timeout=self._timeout
        )


def _error_code(response: httpx.Response) -> str:
    """The FcmError code (UNREGISTERED, ...) from an error body, else its status (NOT_FOUND, ...)."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return ""
    for detail in error.get("details", []):
        if str(detail.get("@type", "")).endswith("FcmError") and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status", ""))
