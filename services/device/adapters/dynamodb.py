"""The production DeviceRepository on DynamoDB (aioboto3); the table layout is in dynamodb_items.

Listing reads the organization's partition with the filters applied by DynamoDB, then sorts and pages in
memory: DynamoDB can only order by the sort key (device id), while the API sorts by name, last seen or
status and answers with a total count, which needs every match anyway.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.device.adapters import dynamodb_items as items
from services.device.adapters.records import change_from_json, device_from_json
from services.device.domain.errors import DeviceAlreadyExists
from services.device.domain.listing import DeviceQuery, sort_devices
from services.device.domain.model import Device, DeviceChange
from services.kernel.pagination import Page, PageRequest

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import QueryInputTypeDef, TransactWriteItemTypeDef

log = logging.getLogger("iotmon.device.dynamodb")

BATCH_GET_LIMIT = 100


class DynamoDbDeviceRepository:
    def __init__(self, client: DynamoDBClient, table: str):
        self._client = client
        self._table = table

    async def ensure_table(self) -> None:
        """Create the table when it does not exist (local runs and tests; production tables come from IaC)."""
        try:
            await self._client.describe_table(TableName=self._table)
            return
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        log.info("creating table", extra={"table": self._table})
        try:
            await self._create_table()
        except ClientError as error:
            # Another replica is creating it at the same moment; waiting for it is all that is left.
            if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
        await self._client.get_waiter("table_exists").wait(TableName=self._table)

    async def _create_table(self) -> None:
        await self._client.create_table(
            TableName=self._table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )

    async def add(self, device: Device) -> None:
        writes = [items.put(self._table, items.device_item(device), "attribute_not_exists(sk)")]
        writes += items.serial_guard_writes(self._table, device, previous=None)
        await self._write(device, writes)

    async def get(self, organization_id: str, device_id: str) -> Device | None:
        reply = await self._client.get_item(
            TableName=self._table, Key=items.device_key(organization_id, device_id), ConsistentRead=True
        )
        item = reply.get("Item")
        return device_from_json(items.document_of(item)) if item else None

    async def get_many(self, organization_id: str, device_ids: Sequence[str]) -> list[Device]:
        ids = list(dict.fromkeys(device_ids))
        found: list[Device] = []
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            keys = [items.device_key(organization_id, i) for i in ids[start : start + BATCH_GET_LIMIT]]
            request: Any = {self._table: {"Keys": keys, "ConsistentRead": True}}
            for attempt in itertools.count():
                reply = await self._client.batch_get_item(RequestItems=request)
                found += [device_from_json(items.document_of(i)) for i in reply["Responses"].get(self._table, [])]
                request = reply.get("UnprocessedKeys")
                if not request:
                    break
                # Keys come back unprocessed when the table is throttled: back off before asking again.
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        return found

    async def find_by_serial(self, organization_id: str, serial_number: str) -> Device | None:
        holder = await self._serial_holder(organization_id, serial_number)
        device = await self.get(organization_id, holder) if holder else None
        if device is None or device.is_deleted or device.serial_number != serial_number:
            return None
        return device

    async def list_devices(self, organization_id: str, query: DeviceQuery) -> Page[Device]:
        condition, names, values = items.list_filter(query.filters)
        request: QueryInputTypeDef = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :org AND begins_with(sk, :prefix)",
            "FilterExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values | {":org": items.s(organization_id), ":prefix": items.s("device#")},
            "ProjectionExpression": "document",
        }
        matching = [device_from_json(items.document_of(i)) async for i in self._query(request)]
        ordered = sort_devices(matching, query.sort_field, query.sort_order)
        start = query.page.offset
        return Page(ordered[start : start + query.page.page_size], query.page, len(ordered))

    async def save(self, device: Device, *, previous: Device, change: DeviceChange | None = None) -> None:
        writes = [items.put(self._table, items.device_item(device), "attribute_exists(sk)")]
        writes += items.serial_guard_writes(self._table, device, previous)
        if change is not None:
            writes.append(items.put(self._table, items.change_item(change), "attribute_not_exists(sk)"))
        await self._write(device, writes)

    async def list_changes(self, organization_id: str, device_id: str, page: PageRequest) -> Page[DeviceChange]:
        request: QueryInputTypeDef = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :org AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":org": items.s(organization_id),
                ":prefix": items.s(items.changes_prefix(device_id)),
            },
            "ScanIndexForward": False,
        }
        # The total count needs every change of the device; a history is small next to its readings.
        changes = [change_from_json(items.document_of(i)) async for i in self._query(request)]
        return Page(changes[page.offset : page.offset + page.page_size], page, len(changes))

    async def _query(self, request: QueryInputTypeDef) -> AsyncIterator[Mapping[str, Any]]:
        while True:
            reply = await self._client.query(**request)
            for item in reply.get("Items", []):
                yield item
            last = reply.get("LastEvaluatedKey")
            if not last:
                return
            request = {**request, "ExclusiveStartKey": last}

    async def _write(self, device: Device, writes: list[TransactWriteItemTypeDef]) -> None:
        """One item is a plain conditional put (half the cost of a transaction); more are all-or-nothing."""
        try:
            if len(writes) == 1 and "Put" in writes[0]:
                await self._client.put_item(**writes[0]["Put"])
            else:
                await self._client.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if not _guard_refused(error, writes):
                raise
            serial = device.serial_number or ""
            holder = await self._serial_holder(device.organization_id, serial)
            raise DeviceAlreadyExists(serial, holder or "unknown") from None

    async def _serial_holder(self, organization_id: str, serial_number: str) -> str | None:
        reply = await self._client.get_item(
            TableName=self._table, Key=items.serial_key(organization_id, serial_number), ConsistentRead=True
        )
        item = reply.get("Item")
        return str(item["device_id"]["S"]) if item else None


def _guard_refused(error: ClientError, writes: list[TransactWriteItemTypeDef]) -> bool:
    """Whether the transaction failed because a serial-number guard belongs to another device."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons: list[Any] = list(error.response.get("CancellationReasons", []))
    for write, reason in zip(writes, reasons, strict=False):
        put_spec: Any = write.get("Put", {})
        is_guard = put_spec.get("Item", {}).get("sk", {}).get("S", "").startswith(items.SERIAL_PREFIX)
        if is_guard and reason.get("Code") == "ConditionalCheckFailed":
            return True
    return False
