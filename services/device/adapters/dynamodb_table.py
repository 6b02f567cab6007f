"""Creating the device table, and upgrading one created by the first release (layout in dynamodb_items).

The first release had neither the heartbeat index nor the lookup items by device id. Upgrading adds the index,
then reads the table once to write every device's lookup item and to put its online devices into the index.
Each step is safe to repeat, so a replica that dies halfway is followed by one that finishes the job.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.device.adapters import dynamodb_items as items
from services.device.domain.listing import instant_key
from services.device.domain.model import DeviceStatus

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

log = logging.getLogger("iotmon.device.dynamodb")

INDEX_WAIT_SECONDS = 300.0
BATCH_WRITE_LIMIT = 25


async def ensure_table(client: DynamoDBClient, table: str) -> None:
    """Create the table when it does not exist (local runs and tests; production tables come from IaC), and
    upgrade a table of the first release."""
    try:
        described = await client.describe_table(TableName=table)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        await _create(client, table)
        return
    indexes = [i["IndexName"] for i in described["Table"].get("GlobalSecondaryIndexes", [])]
    if items.HEARTBEAT_INDEX not in indexes:
        await _upgrade_first_release(client, table)


async def _create(client: DynamoDBClient, table: str) -> None:
    log.info("creating table", extra={"table": table})
    try:
        await client.create_table(**items.table_definition(table))
    except ClientError as error:
        # Another replica is creating it at the same moment; waiting for it is all that is left.
        if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    await client.get_waiter("table_exists").wait(TableName=table)


async def _upgrade_first_release(client: DynamoDBClient, table: str) -> None:
    log.info("upgrading the device table: heartbeat index and lookup items", extra={"table": table})
    await client.update_table(
        TableName=table,
        AttributeDefinitions=items.table_definition(table)["AttributeDefinitions"],
        GlobalSecondaryIndexUpdates=[{"Create": items.heartbeat_index()}],
    )
    await _wait_for_indexes(client, table)
    await _backfill(client, table)


async def _wait_for_indexes(client: DynamoDBClient, table: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + INDEX_WAIT_SECONDS
    while loop.time() < deadline:
        described = await client.describe_table(TableName=table)
        statuses = [i.get("IndexStatus") for i in described["Table"].get("GlobalSecondaryIndexes", [])]
        if statuses and all(status == "ACTIVE" for status in statuses):
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"the heartbeat index of {table} did not become active")


async def _backfill(client: DynamoDBClient, table: str) -> None:
    """Lookup items for every device; online devices into the index, their last reading as their heartbeat."""
    request: Any = {
        "TableName": table,
        "FilterExpression": "begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":prefix": items.s(items.DEVICE_PREFIX)},
        "ProjectionExpression": "pk, sk, #status, last_seen",
        "ExpressionAttributeNames": {"#status": "status"},
    }
    now = instant_key(datetime.now(UTC))
    while True:
        page = await client.scan(**request)
        devices = page.get("Items", [])
        await _put_lookup_items(client, table, devices)
        for device in devices:
            if device["status"]["S"] == DeviceStatus.ONLINE.value:
                await _index_heartbeat(client, table, device, now)
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


async def _put_lookup_items(client: DynamoDBClient, table: str, devices: list[Any]) -> None:
    owners = [
        items.owner_key(d["sk"]["S"].removeprefix(items.DEVICE_PREFIX)) | {"organization_id": d["pk"]} for d in devices
    ]
    for start in range(0, len(owners), BATCH_WRITE_LIMIT):
        writes: Any = {table: [{"PutRequest": {"Item": o}} for o in owners[start : start + BATCH_WRITE_LIMIT]]}
        while writes:
            reply = await client.batch_write_item(RequestItems=writes)
            writes = reply.get("UnprocessedItems") or None
            if writes:
                await asyncio.sleep(0.1)


async def _index_heartbeat(client: DynamoDBClient, table: str, device: Any, now: str) -> None:
    device_id = device["sk"]["S"].removeprefix(items.DEVICE_PREFIX)
    heartbeat = device.get("last_seen", {}).get("S") or now
    try:
        await client.update_item(
            TableName=table,
            Key={"pk": device["pk"], "sk": device["sk"]},
            UpdateExpression="SET hb_shard = :shard, heartbeat_at = :heartbeat",
            # A device that has reported since the upgrade began has its own heartbeat already.
            ConditionExpression="attribute_not_exists(heartbeat_at)",
            ExpressionAttributeValues={
                ":shard": items.s(items.heartbeat_shard(device_id)),
                ":heartbeat": items.s(heartbeat),
            },
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
