"""What the notification domain needs from the outside world, one Protocol per outside thing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.kernel.pagination import Page, PageRequest
from services.notification.domain.messages import (
    EmailContent,
    PushContent,
    SendReceipt,
    SmsContent,
    WebhookContent,
)
from services.notification.domain.model import (
    Alert,
    Delivery,
    DeliveryFilter,
    DeliveryOutcome,
    Recipient,
    Subject,
)


class UserDirectory(Protocol):
    async def users_to_notify(self, organization_id: str) -> list[Recipient]:
        """Every user of the organization with their preferences and addresses; raise Unavailable when the
        directory cannot answer (the event is then redelivered)."""
        ...


class DeliveryLog(Protocol):
    """One row per (alert, user, channel, webhook URL), keyed by the derived delivery id."""

    async def insert_if_absent(self, delivery: Delivery) -> tuple[Delivery, bool]:
        """Store the row unless one with its id exists; the stored row and whether it is the new one."""
        ...

    async def get(self, delivery_id: str) -> Delivery | None: ...

    async def take(
        self, delivery_id: str, *, expected_token: str, token: str, owner: str, lease_until: datetime
    ) -> Delivery | None:
        """Claim the row for sending (status pending, attempts + 1) if its claim token is still
        `expected_token`; None when another worker claimed it first."""
        ...

    async def hand_over(self, delivery_id: str, *, token: str, at: datetime, content: str) -> bool:
        """Record, under the claim `token`, that the message is past the point of no return (and what it
        says); False when the claim was lost. Must be durable when it returns."""
        ...

    async def finish(self, delivery_id: str, *, token: str, outcome: DeliveryOutcome) -> Delivery | None:
        """Record the outcome of the claim `token`; None when the claim was lost (the lease ran out and
        another worker took the row)."""
        ...

    async def page(self, where: DeliveryFilter, page: PageRequest) -> Page[Delivery]:
        """Newest first (created_at, then delivery id)."""
        ...

    async def close(self) -> None: ...


class Renderer(Protocol):
    """Messages about an alert or a firmware notice (webhooks only ever carry alerts)."""

    def email(self, alert: Subject, recipient: Recipient) -> EmailContent: ...

    def push(self, alert: Subject, recipient: Recipient) -> PushContent: ...

    def sms(self, alert: Subject, recipient: Recipient) -> SmsContent: ...

    def webhook(self, alert: Alert, delivery_id: str) -> WebhookContent: ...


# Called by a channel right before the message becomes irrevocable; sending stops if it raises.
HandOver = Callable[[], Awaitable[None]]


class EmailSender(Protocol):
    async def send(
        self, to: str, content: EmailContent, message_id: str, hand_over: HandOver | None = None
    ) -> SendReceipt:
        """Hand the message to the mail system; raise DeliveryFailed when it refuses or is unreachable.
        `message_id` is stable for the delivery, so a duplicate after a crash can be recognised. A channel
        with a clear point of no return (SMTP: the final line of DATA) awaits `hand_over` just before it."""
        ...


class PushSender(Protocol):
    async def send(self, tokens: Sequence[str], content: PushContent, delivery_id: str) -> SendReceipt:
        """Send to every token; succeed when at least one accepted, raise DeliveryFailed otherwise."""
        ...


class SmsSender(Protocol):
    async def send(self, phone_number: str, content: SmsContent) -> SendReceipt: ...


class WebhookSender(Protocol):
    async def send(self, url: str, content: WebhookContent, delivery_id: str) -> SendReceipt:
        """POST the signed body, retrying transient failures; raise DeliveryFailed when it gives up."""
        ...


@dataclass(frozen=True)
class Senders:
    email: EmailSender
    push: PushSender
    sms: SmsSender
    webhook: WebhookSender


class DeliveryEvents(Protocol):
    async def delivered(self, delivery: Delivery) -> None:
        """Publish notification.delivered after each recorded outcome."""
        ...
