"""SesEmailSender and SnsSmsSender against moto in server mode (one server for the session)."""

from __future__ import annotations

import email
import email.policy
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import pytest
from botocore.config import Config
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from services.notification.adapters.email_ses import SesEmailSender
from services.notification.adapters.sms_sns import SnsSmsSender
from services.notification.domain.errors import DeliveryFailed
from services.notification.domain.messages import EmailContent, SmsContent
from tests.support.moto import REGION
from tests.support.servers import free_port

pytestmark = pytest.mark.needs_server

CONTENT = EmailContent(subject="[CRITICAL] Freezer", text="plain body", html="<p>html body</p>")


@pytest.fixture
async def ses(moto_endpoint: str) -> AsyncIterator[Any]:
    async with aioboto3.Session().client("ses", endpoint_url=moto_endpoint, region_name=REGION) as client:
        yield client


@pytest.fixture
async def sns(moto_endpoint: str) -> AsyncIterator[Any]:
    async with aioboto3.Session().client("sns", endpoint_url=moto_endpoint, region_name=REGION) as client:
        yield client


def sent_raw(source: str) -> list[email.message.EmailMessage]:
    """The raw messages moto's SES accepted from `source` (moto runs in this process)."""
    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    messages = []
    for sent in backend.sent_messages:
        if getattr(sent, "source", None) == source and hasattr(sent, "raw_data"):
            parsed = email.message_from_string(sent.raw_data, policy=email.policy.default)
            messages.append(parsed)
    return messages


async def test_ses_sends_the_mime_message_from_a_verified_sender(ses: Any) -> None:
    sender = f"alerts-{uuid.uuid4().hex[:8]}@iotmon.example"
    await ses.verify_email_identity(EmailAddress=sender)
    channel = SesEmailSender(ses, f"iotmon <{sender}>")
    assert await channel.check_sender()
    receipt = await channel.send("john@example.com", CONTENT, "dlv-ses-1")
    assert (receipt.note or "").startswith("SES ")
    [message] = sent_raw(sender)
    assert message["To"] == "john@example.com"
    assert message["Subject"] == CONTENT.subject
    assert message["Message-ID"] == "<dlv-ses-1@iotmon.example>"


async def test_ses_refuses_an_unverified_sender_for_good(ses: Any) -> None:
    channel = SesEmailSender(ses, f"nobody-{uuid.uuid4().hex[:8]}@unverified.example")
    assert not await channel.check_sender()
    with pytest.raises(DeliveryFailed) as failure:
        await channel.send("john@example.com", CONTENT, "dlv-1")
    assert not failure.value.retryable
    assert "MessageRejected" in failure.value.message


async def test_sns_sends_a_transactional_sms_to_the_number(sns: Any) -> None:
    phone = f"+1555{uuid.uuid4().int % 10_000_000:07d}"
    receipt = await SnsSmsSender(sns).send(phone, SmsContent("iotmon CRITICAL: Freezer on Lab-1"))
    message_id = (receipt.note or "").removeprefix("SNS ")
    backend = sns_backends[DEFAULT_ACCOUNT_ID][REGION]
    assert backend.sms_messages[message_id] == (phone, "iotmon CRITICAL: Freezer on Lab-1")


async def test_sns_refuses_a_number_that_is_not_e164(sns: Any) -> None:
    with pytest.raises(DeliveryFailed) as failure:
        await SnsSmsSender(sns).send("not-a-number", SmsContent("hello"))
    assert not failure.value.retryable


async def test_an_unreachable_endpoint_is_worth_retrying() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=1)
    async with aioboto3.Session().client("sns", endpoint_url=endpoint, region_name=REGION, config=config) as client:
        with pytest.raises(DeliveryFailed) as failure:
            await SnsSmsSender(client).send("+15555550100", SmsContent("hello"))
    assert failure.value.retryable
