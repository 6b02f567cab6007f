"""HttpWebhookSender against a local HTTP server that checks the signature and answers scripted statuses."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import pytest

from services.notification.adapters.webhook_http import HttpWebhookSender
from services.notification.domain.errors import DeliveryFailed
from services.notification.domain.messages import WebhookContent
from tests.integration.notification.support import WebhookReceiver, serving
from tests.support.servers import free_port

SECRET = b"webhook-secret"
BODY = WebhookContent('{"event":"alert.triggered","alert":{"alertId":"alert-1"}}')


def sender(client: httpx.AsyncClient, secret: bytes = SECRET) -> HttpWebhookSender:
    return HttpWebhookSender(client, secret, max_attempts=4, backoff_seconds=0.01, backoff_max_seconds=0.05)


async def test_the_body_is_signed_and_carries_the_delivery_id() -> None:
    receiver = WebhookReceiver(SECRET)
    async with serving(receiver.app()) as base, httpx.AsyncClient() as client:
        receipt = await sender(client).send(f"{base}/hooks/a", BODY, "dlv-123")
    assert (receipt.attempts, receipt.note) == (1, "HTTP 200")
    [(body, headers)] = receiver.calls
    assert body == BODY.body.encode()
    assert headers["x-iotmon-signature"] == "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers["x-iotmon-delivery"] == "dlv-123"
    assert headers["content-type"] == "application/json"


async def test_503_is_retried_with_the_same_delivery_id_until_it_succeeds() -> None:
    receiver = WebhookReceiver(SECRET, script=[503, 503])
    async with serving(receiver.app()) as base, httpx.AsyncClient() as client:
        receipt = await sender(client).send(f"{base}/h", BODY, "dlv-7")
    assert receipt.attempts == 3
    assert [h["x-iotmon-delivery"] for _, h in receiver.calls] == ["dlv-7"] * 3
    assert receiver.valid_signatures == 3


async def test_a_4xx_is_final_after_one_try() -> None:
    receiver = WebhookReceiver(SECRET, script=[410])
    async with serving(receiver.app()) as base, httpx.AsyncClient() as client:
        with pytest.raises(DeliveryFailed) as failure:
            await sender(client).send(f"{base}/h", BODY, "dlv-1")
    assert (failure.value.retryable, failure.value.message, len(receiver.calls)) == (False, "HTTP 410", 1)


async def test_a_wrong_secret_is_refused_by_the_receiver() -> None:
    receiver = WebhookReceiver(SECRET)
    async with serving(receiver.app()) as base, httpx.AsyncClient() as client:
        with pytest.raises(DeliveryFailed, match="HTTP 401"):
            await sender(client, b"other-secret").send(f"{base}/h", BODY, "dlv-1")
    assert receiver.valid_signatures == 0


async def test_persistent_5xx_gives_up_retryable_after_the_last_try() -> None:
    receiver = WebhookReceiver(SECRET, script=[500] * 10)
    async with serving(receiver.app()) as base, httpx.AsyncClient() as client:
        with pytest.raises(DeliveryFailed) as failure:
            await sender(client).send(f"{base}/h", BODY, "dlv-1")
    assert (failure.value.retryable, failure.value.attempts, len(receiver.calls)) == (True, 4, 4)
    assert failure.value.message == "HTTP 500 after 4 tries"


async def test_an_unreachable_endpoint_is_retried_then_reported() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(DeliveryFailed) as failure:
            await sender(client).send(f"http://127.0.0.1:{free_port()}/h", BODY, "dlv-1")
    assert failure.value.retryable
    assert failure.value.attempts == 4
    assert "unreachable" in failure.value.message
