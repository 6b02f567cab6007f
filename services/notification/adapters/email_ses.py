"""EmailSender on Amazon SES (aioboto3): the same MIME message as over SMTP, sent raw.

SES only sends from a verified identity (an address or a domain); `check_sender` says so at start-up
instead of at the first alert.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from services.notification.adapters.aws_errors import delivery_failure
from services.notification.adapters.email_smtp import build_message
from services.notification.domain.messages import EmailContent, SendReceipt
from services.notification.ports import HandOver

if TYPE_CHECKING:
    from types_aiobotocore_ses.client import SESClient


class SesEmailSender:
    def __init__(self, client: SESClient, sender: str):
        self._client = client
        self._sender = sender

    async def check_sender(self) -> bool:
        """Whether SES lists the sender's address or domain as verified."""
        address = parseaddr(self._sender)[1]
        identities = [address, address.rpartition("@")[2]]
        reply = await self._client.get_identity_verification_attributes(Identities=identities)
        attributes = reply["VerificationAttributes"]
        return any(i in attributes and attributes[i]["VerificationStatus"] == "Success" for i in identities)

    async def send(
        self, to: str, content: EmailContent, message_id: str, hand_over: HandOver | None = None
    ) -> SendReceipt:
        # An API call has no point of no return the client can see: `hand_over` is not used, and a crash
        # between SES's acceptance and the log's record may send the message twice (same Message-ID).
        message = build_message(self._sender, to, content, message_id)
        try:
            reply = await self._client.send_raw_email(
                Source=parseaddr(self._sender)[1], Destinations=[to], RawMessage={"Data": message.as_bytes()}
            )
        except (ClientError, BotoCoreError) as error:
            raise delivery_failure("SES", error) from None
        return SendReceipt(note=f"SES {reply['MessageId']}")
