"""Rendered messages, one shape per channel, and the receipt a channel gives back."""

from __future__ import annotations

from dataclasses import dataclass

# One SMS segment in the GSM 7-bit alphabet; longer texts are cut so one alert costs one message.
SMS_MAX_LENGTH = 160


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class PushContent:
    title: str
    body: str


@dataclass(frozen=True)
class SmsContent:
    text: str


@dataclass(frozen=True)
class WebhookContent:
    """The JSON body, exactly as it is signed and sent."""

    body: str


@dataclass(frozen=True)
class SendReceipt:
    """What a channel reports after accepting a message."""

    # Tries it took (a webhook retried on 503 counts each POST).
    attempts: int = 1
    # The provider's id (SES MessageId, FCM message name) or a remark such as "outbox" or skipped tokens.
    note: str | None = None


def fit_sms(text: str) -> str:
    """One line, at most SMS_MAX_LENGTH characters, cut with an ellipsis when longer."""
    flat = " ".join(text.split())
    if len(flat) <= SMS_MAX_LENGTH:
        return flat
    return flat[: SMS_MAX_LENGTH - 1].rstrip() + "…"
