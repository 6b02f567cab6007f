"""What every service's DynamoDB adapter needs alike: the client from settings, creating a table, reading
every page of a query, and telling which condition of a cancelled transaction failed.

Imported only by adapters and bootstraps that chose DynamoDB: aioboto3 is the optional `aws` extra.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

log = logging.getLogger("iotmon.dynamodb")

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELLED = "TransactionCanceledException"


async def open_dynamodb(resources: AsyncExitStack, *, endpoint_url: str | None, region: str | None) -> DynamoDBClient:
    """A client closed with `resources`; `endpoint_url` for moto or LocalStack (None: the region's AWS)."""
    import aioboto3

    client: DynamoDBClient = await resources.enter_async_context(
        aioboto3.Session().client("dynamodb", endpoint_url=endpoint_url, region_name=region)
    )
    return client


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def cancellation_codes(error: ClientError) -> list[str]:
    """Per write of a cancelled TransactWriteItems, why it was refused ("None" when it was not the cause);
    empty for any other error."""
    if error_code(error) != TRANSACTION_CANCELLED:
        return []
    reasons: list[Any] = list(error.response.get("CancellationReasons", []))
    return [str(reason.get("Code", "None")) for reason in reasons]


async def ensure_table(client: DynamoDBClient, definition: Mapping[str, Any]) -> None:
    """CreateTable with `definition` unless the table exists (local runs and tests; production tables come
    from infrastructure code), then wait until it is active."""
    table = str(definition["TableName"])
    try:
        await client.describe_table(TableName=table)
        return
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
    log.info("creating table", extra={"table": table})
    try:
        await client.create_table(**definition)
    except ClientError as error:
        if error_code(error) != "ResourceInUseException":  # another replica is creating it right now
            raise
    await client.get_waiter("table_exists").wait(TableName=table)


async def query_items(client: DynamoDBClient, request: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Every item a Query (or, with `scan=True` in the request, a Scan) returns, page after page."""
    arguments = dict(request)
    scan = bool(arguments.pop("scan", False))
    while True:
        reply: Any = await (client.scan(**arguments) if scan else client.query(**arguments))
        for item in reply.get("Items", []):
            yield item
        last = reply.get("LastEvaluatedKey")
        if not last:
            return
        arguments["ExclusiveStartKey"] = last


async def count_items(client: DynamoDBClient, request: Mapping[str, Any]) -> int:
    """How many items a Query matches (Select COUNT, every page)."""
    arguments: Any = {**request, "Select": "COUNT"}
    total = 0
    while True:
        reply = await client.query(**arguments)
        total += int(reply.get("Count", 0))
        last = reply.get("LastEvaluatedKey")
        if not last:
            return total
        arguments["ExclusiveStartKey"] = last


async def transact_retrying_conflicts(client: DynamoDBClient, writes: list[Any], attempts: int = 8) -> None:
    """TransactWriteItems, tried again while it is cancelled only by another transaction on the same items
    (TransactionConflict: neither condition was evaluated against the other's outcome). A failed condition,
    or conflicts outlasting `attempts`, raises the ClientError."""
    for attempt in range(attempts):
        try:
            await client.transact_write_items(TransactItems=writes)
            return
        except ClientError as error:
            codes = cancellation_codes(error)
            conflict_only = "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes
            if not conflict_only or attempt == attempts - 1:
                raise
        await asyncio.sleep(min(0.01 * 2**attempt, 0.5))
