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
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.device.adapters import dynamodb_items as items
from services.device.adapters.dynamodb_table import ensure_table
from services.device.adapters.records import change_from_json
from services.device.domain.errors import DeviceAlreadyExists, DeviceChangedConcurrently
from services.device.domain.listing import DeviceQuery, instant_key, sort_devices
from services.device.domain.model import Device, DeviceChange, DeviceState
from services.kernel.pagination import Page, PageRequest

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import QueryInputTypeDef, TransactWriteItemTypeDef

log = logging.getLogger("iotmon.device.dynamodb")

BATCH_GET_LIMIT = 100
# Concurrent conditional writes of one bulk save (activity, heartbeat): DynamoDB has no batched condition.
WRITE_CONCURRENCY = 16


class DynamoDbDeviceRepository:
    def __init__(self, client: DynamoDBClient, table: str):
        self._client = client
        self._table = table

    async def ensure_table(self) -> None:
        """Create the table, or upgrade one of the first release (dynamodb_table)."""
        await ensure_table(self._client, self._table)

    async def add(self, device: Device) -> None:
        writes = [
            items.put(self._table, items.device_item(device), "attribute_not_exists(sk)"),
            items.put(self._table, items.owner_item(device), "attribute_not_exists(sk)"),
        ]
        writes += items.serial_guard_writes(self._table, device, previous=None)
        await self._write(device, writes)

    async def get(self, organization_id: str, device_id: str) -> Device | None:
        reply = await self._client.get_item(
            TableName=self._table, Key=items.device_key(organization_id, device_id), ConsistentRead=True
        )
        item = reply.get("Item")
        return items.device_of(item) if item else None

    async def get_many(self, organization_id: str, device_ids: Sequence[str]) -> list[Device]:
        keys = [items.device_key(organization_id, i) for i in dict.fromkeys(device_ids)]
        return [items.device_of(i) for i in await self._batch_get(keys)]

    async def get_many_across_organizations(self, device_ids: Sequence[str]) -> list[Device]:
        owners = await self._batch_get([items.owner_key(i) for i in dict.fromkeys(device_ids)])
        return [items.device_of(i) for i in await self._batch_get(_device_keys(owners))]

    async def get_states(self, device_ids: Sequence[str]) -> list[DeviceState]:
        owners = await self._batch_get([items.owner_key(i) for i in dict.fromkeys(device_ids)])
        return [items.state_of(i) for i in await self._batch_get(_device_keys(owners))]

    async def find_silent(self, silent_since: datetime, limit: int) -> list[DeviceState]:
        # The index holds keys only; the states themselves come from one consistent batch read.
        shards = [items.shard_name(n) for n in range(items.HEARTBEAT_SHARDS)]
        found = await asyncio.gather(*(self._silent_in_shard(shard, silent_since, limit) for shard in shards))
        oldest = sorted((entry for shard in found for entry in shard), key=lambda i: i["heartbeat_at"]["S"])[:limit]
        stored = await self._batch_get([{"pk": i["pk"], "sk": i["sk"]} for i in oldest])
        states = [items.state_of(i) for i in stored]
        return sorted(states, key=lambda d: (instant_key(d.heartbeat_at) if d.heartbeat_at else "", d.device_id))

    async def _silent_in_shard(self, shard: str, silent_since: datetime, limit: int) -> list[Mapping[str, Any]]:
        request: QueryInputTypeDef = {
            "TableName": self._table,
            "IndexName": items.HEARTBEAT_INDEX,
            "KeyConditionExpression": "hb_shard = :shard AND heartbeat_at < :since",
            "ExpressionAttributeValues": {":shard": items.s(shard), ":since": items.s(instant_key(silent_since))},
            "Limit": limit,
        }
        found: list[Mapping[str, Any]] = []
        async for item in self._query(request):
            found.append(item)
            if len(found) >= limit:
                break
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
            "ExpressionAttributeNames": names | {"#state": "state"},
            "ExpressionAttributeValues": values | {":org": items.s(organization_id), ":prefix": items.s("device#")},
            "ProjectionExpression": "pk, sk, document, #state",
        }
        matching = [items.device_of(i) async for i in self._query(request)]
        ordered = sort_devices(matching, query.sort_field, query.sort_order)
        start = query.page.offset
        return Page(ordered[start : start + query.page.page_size], query.page, len(ordered))

    async def save(self, device: Device, *, previous: Device, change: DeviceChange | None = None) -> None:
        writes = [items.revision_put(self._table, device, previous)]
        writes += items.serial_guard_writes(self._table, device, previous)
        if change is not None:
            writes.append(items.put(self._table, items.change_item(change), "attribute_not_exists(sk)"))
        await self._write(device, writes, previous)

    async def save_states(self, updates: Sequence[tuple[DeviceState, DeviceState]]) -> set[str]:
        conflicted: set[str] = set()
        limit = asyncio.Semaphore(WRITE_CONCURRENCY)

        async def save_one(state: DeviceState, previous: DeviceState) -> None:
            async with limit:
                try:
                    await self._client.update_item(**items.state_update(self._table, state, previous))
                except ClientError as error:
                    if _code(error) != "ConditionalCheckFailedException":
                        raise
                    conflicted.add(state.device_id)

        async with asyncio.TaskGroup() as group:
            for state, previous in updates:
                group.create_task(save_one(state, previous))
        return conflicted

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

    async def _batch_get(self, keys: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The items with these keys (strongly consistent), in batches of 100, retrying unprocessed keys."""
        found: list[Mapping[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request: Any = {self._table: {"Keys": list(keys[start : start + BATCH_GET_LIMIT]), "ConsistentRead": True}}
            for attempt in itertools.count():
                reply = await self._client.batch_get_item(RequestItems=request)
                found += reply["Responses"].get(self._table, [])
                request = reply.get("UnprocessedKeys")
                if not request:
                    break
                # Keys come back unprocessed when the table is throttled: back off before asking again.
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        return found

    async def _write(
        self, device: Device, writes: list[TransactWriteItemTypeDef], previous: Device | None = None
    ) -> None:
        """One item is a plain conditional put (half the cost of a transaction); more are all-or-nothing."""
        try:
            if len(writes) == 1 and "Put" in writes[0]:
                await self._client.put_item(**writes[0]["Put"])
            else:
                await self._client.transact_write_items(TransactItems=writes)
        except ClientError as error:
            if previous is not None and _device_refused(error):
                raise await self._refusal(previous) from None
            if not _guard_refused(error, writes):
                raise
            serial = device.serial_number or ""
            holder = await self._serial_holder(device.organization_id, serial)
            raise DeviceAlreadyExists(serial, holder or "unknown") from None

    async def _refusal(self, previous: Device) -> Exception:
        if await self.get(previous.organization_id, previous.device_id) is None:
            return KeyError(f"device {previous.device_id} is not stored")
        return DeviceChangedConcurrently(previous.device_id)

    async def _serial_holder(self, organization_id: str, serial_number: str) -> str | None:
        reply = await self._client.get_item(
            TableName=self._table, Key=items.serial_key(organization_id, serial_number), ConsistentRead=True
        )
        item = reply.get("Item")
        return str(item["device_id"]["S"]) if item else None


def _device_keys(owners: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The device items' keys from their lookup items."""
    return [items.device_key(o["organization_id"]["S"], o["pk"]["S"].removeprefix(items.OWNER_PREFIX)) for o in owners]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _device_refused(error: ClientError) -> bool:
    """Whether the device item's own condition (its revision) failed; it is always the first write."""
    if _code(error) == "ConditionalCheckFailedException":
        return True
    reasons: list[Any] = list(error.response.get("CancellationReasons", []))
    cancelled = _code(error) == "TransactionCanceledException" and bool(reasons)
    return cancelled and reasons[0].get("Code") == "ConditionalCheckFailed"


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
