"""WebhookSender over HTTP (httpx): POST the JSON body, signed, retried with exponential backoff.

Headers: `X-Iotmon-Signature: sha256=<hex HMAC-SHA256 of the exact body with the shared secret>` and
`X-Iotmon-Delivery: <delivery id>`, the same on every retry of one delivery, so receivers can drop
duplicates. 5xx, 429, timeouts and connection errors are retried (tenacity); any other status is final:
a 4xx will not change by asking again, and redirects are not followed (the signed URL is the contract).
"""

from __future__ import annotations

import hashlib
import hmac

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.notification.domain.errors import DeliveryFailed
from services.notification.domain.messages import SendReceipt, WebhookContent

SIGNATURE_HEADER = "X-Iotmon-Signature"
DELIVERY_HEADER = "X-Iotmon-Delivery"


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class _Transient(Exception):
    pass


class HttpWebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        secret: bytes,
        *,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        backoff_max_seconds: float = 8.0,
        timeout_seconds: float = 5.0,
    ):
        self._client = client
        self._secret = secret
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._backoff_max = backoff_max_seconds
        self._timeout = timeout_seconds

    async def send(self, url: str, content: WebhookContent, delivery_id: str) -> SendReceipt:
        body = content.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "iotmon-webhooks/1",
            SIGNATURE_HEADER: signature(self._secret, body),
            DELIVERY_HEADER: delivery_id,
        }
        tries = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_exponential(multiplier=self._backoff, max=self._backoff_max),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    tries += 1
                    status = await self._post(url, body, headers)
        except _Transient as error:
            raise DeliveryFailed(f"{error} after {tries} tries", retryable=True, attempts=tries) from None
        return SendReceipt(attempts=tries, note=f"HTTP {status}")

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        try:
            response = await self._client.post(url, content=body, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException:
            raise _Transient("timed out") from None
        except httpx.TransportError as error:
            raise _Transient(f"unreachable: {error!r}") from None
        code = response.status_code
        if code >= 500 or code == 429:
            raise _Transient(f"HTTP {code}")
        if not 200 <= code < 300:
            raise DeliveryFailed(f"HTTP {code}", retryable=False)
        return code
