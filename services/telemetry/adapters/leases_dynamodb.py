"""The production lease table on DynamoDB, as the Kinesis Client Library keeps its own.

Layout: partition key `stream`, sort key `shardId`, so one table serves several streams and listing a
stream's leases is one strongly consistent Query. Attributes: `owner` (absent when free), `counter`,
`expiresAtMs`, `checkpoint` (absent before the first batch), `parents`. Every change is an UpdateItem with a
ConditionExpression; a failed condition means another worker got there first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.telemetry.adapters.leases import Lease

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

log = logging.getLogger("iotmon.telemetry.leases")


class DynamoDbLeaseStore:
    def __init__(self, client: DynamoDBClient, table: str, stream: str) -> None:
        self._client = client
        self._table = table
        self._stream = stream

    async def ensure_table(self) -> None:
        """Create the table when missing (local runs and tests; production tables come from IaC)."""
        try:
            await self._client.describe_table(TableName=self._table)
            return
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
        log.info("creating lease table", extra={"table": self._table})
        try:
            await self._client.create_table(
                TableName=self._table,
                KeySchema=[
                    {"AttributeName": "stream", "KeyType": "HASH"},
                    {"AttributeName": "shardId", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "stream", "AttributeType": "S"},
                    {"AttributeName": "shardId", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as error:
            if _code(error) != "ResourceInUseException":  # another replica is creating it right now
                raise
        await self._client.get_waiter("table_exists").wait(TableName=self._table)

    async def ensure(self, leases: Sequence[Lease]) -> None:
        await asyncio.gather(*(self._create(lease) for lease in leases))

    async def _create(self, lease: Lease) -> None:
        item: dict[str, Any] = {
            "stream": {"S": self._stream},
            "shardId": {"S": lease.shard_id},
            "counter": {"N": "0"},
            "expiresAtMs": {"N": "0"},
            "parents": {"L": [{"S": parent} for parent in lease.parents]},
        }
        if lease.checkpoint:
            item["checkpoint"] = {"S": lease.checkpoint}
        try:
            await self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(shardId)"
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise

    async def list(self) -> list[Lease]:
        leases: list[Lease] = []
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "stream"},
            ExpressionAttributeValues={":s": {"S": self._stream}},
            ConsistentRead=True,
        )
        async for page in pages:
            leases += [_lease(item) for item in page.get("Items", [])]
        return leases

    async def take(self, lease: Lease, owner: str, expires_at_ms: int) -> Lease | None:
        return await self._update(
            lease.shard_id,
            "SET #owner = :owner, expiresAtMs = :expires ADD #counter :one",
            "#counter = :counter",
            {":owner": {"S": owner}, ":expires": {"N": str(expires_at_ms)}, ":counter": {"N": str(lease.counter)}},
        )

    async def renew(self, shard_id: str, owner: str, expires_at_ms: int) -> Lease | None:
        return await self._update(
            shard_id,
            "SET expiresAtMs = :expires ADD #counter :one",
            "#owner = :owner",
            {":owner": {"S": owner}, ":expires": {"N": str(expires_at_ms)}},
        )

    async def checkpoint(self, shard_id: str, owner: str, sequence_number: str) -> bool:
        updated = await self._update(
            shard_id,
            "SET #checkpoint = :checkpoint",
            "#owner = :owner",
            {":owner": {"S": owner}, ":checkpoint": {"S": sequence_number}},
        )
        return updated is not None

    async def release(self, shard_id: str, owner: str) -> None:
        await self._update(
            shard_id,
            "REMOVE #owner SET expiresAtMs = :zero ADD #counter :one",
            "#owner = :owner",
            {":owner": {"S": owner}, ":zero": {"N": "0"}},
        )

    async def close(self) -> None:
        """The client belongs to whoever created it (the bootstrap's exit stack)."""

    async def _update(self, shard_id: str, update: str, condition: str, values: Mapping[str, Any]) -> Lease | None:
        names = {"#owner": "owner", "#counter": "counter", "#checkpoint": "checkpoint"}
        values = dict(values)
        if ":one" in update:
            values[":one"] = {"N": "1"}
        used = {name: attribute for name, attribute in names.items() if name in update or name in condition}
        try:
            reply = await self._client.update_item(
                TableName=self._table,
                Key={"stream": {"S": self._stream}, "shardId": {"S": shard_id}},
                UpdateExpression=update,
                ConditionExpression=f"attribute_exists(shardId) AND {condition}",
                ExpressionAttributeNames=used,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return None
            raise
        return _lease(reply["Attributes"])


def _lease(item: Mapping[str, Any]) -> Lease:
    return Lease(
        shard_id=item["shardId"]["S"],
        owner=item["owner"]["S"] if "owner" in item else None,
        counter=int(item["counter"]["N"]),
        expires_at_ms=int(item["expiresAtMs"]["N"]),
        checkpoint=item["checkpoint"]["S"] if "checkpoint" in item else None,
        parents=tuple(parent["S"] for parent in item.get("parents", {}).get("L", [])),
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
