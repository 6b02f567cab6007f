"""SmtpEmailSender against a real SMTP server (aiosmtpd on a free port)."""

from __future__ import annotations

import pytest

from services.notification.adapters.email_smtp import SmtpEmailSender, SmtpServer
from services.notification.domain.errors import DeliveryFailed
from services.notification.domain.messages import EmailContent
from tests.support.smtp import SmtpInbox, smtp_server

CONTENT = EmailContent(subject="[WARNING] High Temperature Alert", text="plain body", html="<p>html body</p>")


def sender(inbox: SmtpInbox) -> SmtpEmailSender:
    return SmtpEmailSender(SmtpServer.from_url(inbox.url), "iotmon alerts <alerts@iotmon.example>", timeout_seconds=5)


async def test_a_message_arrives_with_both_parts_and_a_stable_message_id(smtp: SmtpInbox) -> None:
    receipt = await sender(smtp).send("john@example.com", CONTENT, "dlv-123")
    assert receipt.attempts == 1
    [message] = smtp.messages
    assert message["To"] == "john@example.com"
    assert message["From"] == "iotmon alerts <alerts@iotmon.example>"
    assert message["Subject"] == CONTENT.subject
    assert message["Message-ID"] == "<dlv-123@iotmon.example>"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().strip() == "plain body"
    assert html.get_content().strip() == "<p>html body</p>"


async def test_a_refused_recipient_is_a_permanent_failure(smtp: SmtpInbox) -> None:
    smtp.refuse.add("gone@example.com")
    with pytest.raises(DeliveryFailed) as failure:
        await sender(smtp).send("gone@example.com", CONTENT, "dlv-1")
    assert not failure.value.retryable
    assert "550" in failure.value.message
    assert smtp.messages == []


async def test_a_deferred_recipient_is_worth_retrying(smtp: SmtpInbox) -> None:
    smtp.defer.add("busy@example.com")
    with pytest.raises(DeliveryFailed) as failure:
        await sender(smtp).send("busy@example.com", CONTENT, "dlv-1")
    assert failure.value.retryable


async def test_an_unreachable_server_is_worth_retrying() -> None:
    with smtp_server() as inbox:
        url = inbox.url
    stopped = SmtpEmailSender(SmtpServer.from_url(url), "alerts@iotmon.example", timeout_seconds=2)
    with pytest.raises(DeliveryFailed) as failure:
        await stopped.send("john@example.com", CONTENT, "dlv-1")
    assert failure.value.retryable


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.local:2525", SmtpServer("mail.local", 2525)),
        ("smtp://mail.local", SmtpServer("mail.local", 25)),
        (
            "smtp://me%40x.com:p%2Fw@mail.local:587?starttls=true",
            SmtpServer("mail.local", 587, "me@x.com", "p/w", start_tls=True),
        ),
        ("smtps://mail.local", SmtpServer("mail.local", 465, use_tls=True)),
    ],
)
def test_smtp_urls(url: str, expected: SmtpServer) -> None:
    assert SmtpServer.from_url(url) == expected


def test_a_url_that_is_not_smtp_is_refused() -> None:
    with pytest.raises(ValueError, match="smtp://host:port"):
        SmtpServer.from_url("http://mail.local")
