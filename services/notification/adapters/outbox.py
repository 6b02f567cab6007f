"""The embedded senders: the rendered message is recorded in the delivery log and goes nowhere else.

`iotmon up` on a bare machine has no mail server, FCM project or SNS account; with these, alerts still
produce their deliveries (status sent, note "outbox") and the log shows exactly what would have been sent.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.notification.domain.messages import EmailContent, PushContent, SendReceipt, SmsContent
from services.notification.ports import HandOver

OUTBOX = SendReceipt(note="outbox")


class OutboxEmailSender:
    async def send(
        self, to: str, content: EmailContent, message_id: str, hand_over: HandOver | None = None
    ) -> SendReceipt:
        return OUTBOX


class OutboxPushSender:
    async def send(self, tokens: Sequence[str], content: PushContent, delivery_id: str) -> SendReceipt:
        return OUTBOX


class OutboxSmsSender:
    async def send(self, phone_number: str, content: SmsContent) -> SendReceipt:
        return OUTBOX
