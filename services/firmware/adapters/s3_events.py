"""S3 "object created" event notifications, delivered to an SQS queue, read here and handed to the processor.

`configure_notifications` creates the queue (with a policy letting the bucket send to it) and points the
bucket's notification configuration at it for `s3:ObjectCreated:*` under the firmware prefix. `S3EventQueue`
long-polls the queue; a message is deleted only after every record in it was processed, so a failure leaves
it to come back after the visibility timeout (at least once; the processor is idempotent).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_sqs import SQSClient

log = logging.getLogger("iotmon.firmware")

ObjectCreated = Callable[[str, datetime | None], Awaitable[object]]
RETRY_PAUSE_SECONDS = 2.0


async def configure_notifications(s3: S3Client, sqs: SQSClient, bucket: str, queue_name: str, prefix: str) -> str:
    """Queue and bucket notification in place (idempotent); returns the queue URL."""
    queue_url = (await sqs.create_queue(QueueName=queue_name))["QueueUrl"]
    attributes = await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    queue_arn = attributes["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
            }
        ],
    }
    await sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    await s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
            ]
        },
    )
    return queue_url


def created_objects(body: str) -> list[tuple[str, datetime | None]]:
    """(key, event time) of each ObjectCreated record of one S3 notification; none for s3:TestEvent."""
    try:
        document = json.loads(body)
    except json.JSONDecodeError:
        log.warning("unreadable S3 event notification", extra={"body": body[:200]})
        return []
    found: list[tuple[str, datetime | None]] = []
    for record in document.get("Records", []) if isinstance(document, dict) else []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        key = unquote_plus(record["s3"]["object"]["key"])  # S3 URL-encodes keys in notifications
        found.append((key, _event_time(record.get("eventTime"))))
    return found


def _event_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class S3EventQueue:
    def __init__(self, sqs: SQSClient, queue_url: str, on_created: ObjectCreated, *, wait_seconds: int = 10):
        self._sqs = sqs
        self._queue_url = queue_url
        self._on_created = on_created
        self._wait_seconds = wait_seconds

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading S3 events failed; retrying")
                await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def poll_once(self) -> int:
        """Receive one batch and process it; how many messages were done with (deleted)."""
        response = await self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self._wait_seconds
        )
        done = 0
        for message in response.get("Messages", []):
            try:
                for key, at in created_objects(message.get("Body", "")):
                    await self._on_created(key, at)
            except Exception:
                log.exception("processing an S3 event failed; it comes back after the visibility timeout")
                continue
            await self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
            done += 1
        return done
