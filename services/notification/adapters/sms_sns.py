"""SmsSender on Amazon SNS (aioboto3): a transactional SMS published straight to the phone number."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from services.notification.adapters.aws_errors import delivery_failure
from services.notification.domain.messages import SendReceipt, SmsContent

if TYPE_CHECKING:
    from types_aiobotocore_sns.client import SNSClient


class SnsSmsSender:
    def __init__(self, client: SNSClient, sender_id: str | None = None):
        self._client = client
        self._sender_id = sender_id

    async def send(self, phone_number: str, content: SmsContent) -> SendReceipt:
        # Transactional: alerts matter more than cost, and carriers deliver them ahead of promotional ones.
        attributes: dict[str, dict[str, str]] = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
        }
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self._sender_id}
        try:
            reply = await self._client.publish(
                PhoneNumber=phone_number,
                Message=content.text,
                MessageAttributes=attributes,  # type: ignore[arg-type]
            )
        except (ClientError, BotoCoreError) as error:
            raise delivery_failure("SNS", error) from None
        return SendReceipt(note=f"SNS {reply['MessageId']}")
