"""What every service's DynamoDB adapter needs alike: the client from settings, describing and creating a
table, reading every page of a query, writing many items, and telling which condition of a cancelled
transaction failed.

Imported only by adapters and bootstraps that chose DynamoDB: aioboto3 is the optional `aws` extra.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

log = logging.getLogger("iotmon.dynamodb")

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELLED = "TransactionCanceledException"
# The cancellation code of a transaction's write whose condition failed (see cancellation_codes).
REFUSED = "ConditionalCheckFailed"
BATCH_WRITE_LIMIT = 25


@dataclass(frozen=True)
class Index:
    """A global secondary index: its name, its keys and what it projects (ALL or KEYS_ONLY)."""

    name: str
    hash_key: str
    range_key: str
    projection: str = "ALL"


def define_table(
    table: str,
    *,
    hash_key: str = "pk",
    range_key: str | None = None,
    indexes: Sequence[Index] = (),
    numbers: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """CreateTable arguments of an on-demand table. Every key attribute of the table and its indexes is
    declared once, as a string unless named in `numbers`."""
    key_schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key is not None:
        key_schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    attributes = [hash_key, *([range_key] if range_key else [])]
    for index in indexes:
        attributes += [index.hash_key, index.range_key]
    definition: dict[str, Any] = {
        "TableName": table,
        "KeySchema": key_schema,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "N" if name in numbers else "S"}
            for name in dict.fromkeys(attributes)
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        definition["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.hash_key, "KeyType": "HASH"},
                    {"AttributeName": index.range_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": index.projection},
            }
            for index in indexes
        ]
    return definition


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


async def transact_unless_refused(client: DynamoDBClient, writes: list[Any]) -> bool:
    """`transact_retrying_conflicts`, False (nothing written) when a write's condition refused it."""
    try:
        await transact_retrying_conflicts(client, writes)
    except ClientError as error:
        if REFUSED in cancellation_codes(error):
            return False
        raise
    return True


async def put_items(client: DynamoDBClient, table: str, items: Sequence[Mapping[str, Any]]) -> None:
    """Put every item, BATCH_WRITE_LIMIT a request, sending again what comes back unprocessed."""
    for start in range(0, len(items), BATCH_WRITE_LIMIT):
        writes: Any = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_WRITE_LIMIT]]}
        attempt = 0
        while writes:
            reply = await client.batch_write_item(RequestItems=writes)
            writes = reply.get("UnprocessedItems") or None
            if writes:  # unprocessed items mean the table is throttled: back off before sending them again
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
                attempt += 1
