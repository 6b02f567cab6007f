"""The DeadLetterStore on DynamoDB (aioboto3), for AWS deployments where the time series stays in
PostgreSQL/TimescaleDB (Timestream, the spec's choice, has no moto backend to test against).

One item per letter (pk `dead_letter_id`): the record as JSON text, the filter attributes, and `time_key`
(zero-padded received_at_ms # id), which sorts letters by time in two global secondary indexes:
    by-organization   organization_id, time_key    sparse: letters whose device was known
    all-letters       shard, time_key              every letter, spread over SHARDS index partitions so
                                                   a fleet flooding the queue does not throttle one partition
Adding a letter again under its id replaces it, as in the SQL stores. The indexes follow writes within about
a second: a letter just added can be missing from a page read at that instant.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from services.kernel.pagination import Page, PageRequest
from services.runtime.dynamodb import Index, define_table, ensure_table, query_items
from services.telemetry.domain.model import DeadLetter, RejectReason, Source

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

BY_ORGANIZATION = "by-organization"
ALL_LETTERS = "all-letters"
SHARDS = 8
BATCH_WRITE_LIMIT = 25


def table_definition(table: str) -> dict[str, Any]:
    by_organization = Index(BY_ORGANIZATION, "organization_id", "time_key")
    return define_table(
        table, hash_key="dead_letter_id", indexes=[by_organization, Index(ALL_LETTERS, "shard", "time_key")]
    )


class DynamoDbDeadLetterStore:
    def __init__(self, client: DynamoDBClient, table: str):
        self._client = client
        self._table = table

    async def ensure_table(self) -> None:
        await ensure_table(self._client, table_definition(self._table))

    async def close(self) -> None:
        """The client belongs to whoever opened it (the bootstrap's resources)."""

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        # One batch may not name an item twice: the last letter of an id wins, as a replacement would.
        latest = {letter.dead_letter_id: letter for letter in letters}
        await self._batch_write([{"PutRequest": {"Item": _item(letter)}} for letter in latest.values()])

    async def remove(self, dead_letter_ids: Collection[str]) -> None:
        keys = [{"DeleteRequest": {"Key": {"dead_letter_id": {"S": i}}}} for i in dict.fromkeys(dead_letter_ids)]
        await self._batch_write(keys)

    async def page(
        self,
        organization_id: str | None,
        page: PageRequest,
        *,
        device_id: str | None = None,
        reason: RejectReason | None = None,
    ) -> Page[DeadLetter]:
        # The total count needs every match anyway.
        found = [letter async for letter in self._in_order(organization_id, device_id, reason, newest_first=True)]
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def oldest(
        self,
        organization_id: str | None,
        limit: int,
        *,
        device_id: str | None = None,
        reason: RejectReason | None = None,
    ) -> list[DeadLetter]:
        in_order = self._in_order(organization_id, device_id, reason, newest_first=False)
        found: list[DeadLetter] = []
        async for letter in in_order:
            if len(found) >= limit:
                break
            found.append(letter)
        await in_order.aclose()
        return found

    async def _in_order(
        self, organization_id: str | None, device_id: str | None, reason: RejectReason | None, *, newest_first: bool
    ) -> AsyncGenerator[DeadLetter, None]:
        """Matching letters by (received_at_ms, id), read lazily: one index partition, or every shard merged."""
        partitions = [("organization_id", organization_id)] if organization_id else _shards()
        queries = [self._query(index, key, device_id, reason, newest_first) for index, key in partitions]
        if len(queries) == 1:
            async for item in queries[0]:
                yield _letter(item)
            return
        # Each shard comes in order: merge them, holding one item per shard.
        heads: list[tuple[Any, int, Mapping[str, Any]]] = []
        for number, query in enumerate(queries):
            await _push(heads, number, query, newest_first)
        while heads:
            _, number, item = heapq.heappop(heads)
            yield _letter(item)
            await _push(heads, number, queries[number], newest_first)

    def _query(
        self, attribute: str, value: str, device_id: str | None, reason: RejectReason | None, newest_first: bool
    ) -> AsyncIterator[Mapping[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_ORGANIZATION if attribute == "organization_id" else ALL_LETTERS,
            "KeyConditionExpression": f"{attribute} = :key",
            "ExpressionAttributeValues": {":key": {"S": value}},
            "ScanIndexForward": not newest_first,
        }
        clauses = []
        for name, wanted in (("device_id", device_id), ("reason", reason)):
            if wanted is not None:
                clauses.append(f"#{name} = :{name}")
                request.setdefault("ExpressionAttributeNames", {})[f"#{name}"] = name
                request["ExpressionAttributeValues"][f":{name}"] = {"S": str(wanted)}
        if clauses:
            request["FilterExpression"] = " AND ".join(clauses)
        return query_items(self._client, request)

    async def _batch_write(self, requests: list[Any]) -> None:
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            writes: Any = {self._table: requests[start : start + BATCH_WRITE_LIMIT]}
            for attempt in itertools.count():
                reply = await self._client.batch_write_item(RequestItems=writes)
                writes = reply.get("UnprocessedItems")
                if not writes:
                    break
                # Items come back unprocessed when the table is throttled: back off before sending them again.
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))


def _shards() -> list[tuple[str, str]]:
    return [("shard", f"all#{number}") for number in range(SHARDS)]


async def _push(
    heads: list[tuple[Any, int, Mapping[str, Any]]],
    number: int,
    query: AsyncIterator[Mapping[str, Any]],
    newest_first: bool,
) -> None:
    item = await anext(query, None)
    if item is None:
        return
    key = item["time_key"]["S"]
    # heapq pops the smallest: newest first orders by the key's complement, whose end sorts after any
    # character so that a key comes after the longer keys it begins.
    order: Any = (*(-ord(c) for c in key), 1) if newest_first else key
    heapq.heappush(heads, (order, number, item))


def _time_key(letter: DeadLetter) -> str:
    return f"{letter.received_at_ms:016d}#{letter.dead_letter_id}"


def _item(letter: DeadLetter) -> dict[str, Any]:
    shard = zlib.crc32(letter.dead_letter_id.encode()) % SHARDS
    item: dict[str, Any] = {
        "dead_letter_id": {"S": letter.dead_letter_id},
        "reason": {"S": letter.reason.value},
        "message": {"S": letter.message},
        "source": {"S": letter.source.value},
        "received_at_ms": {"N": str(letter.received_at_ms)},
        "record": {"S": orjson.dumps(letter.record).decode()},
        "time_key": {"S": _time_key(letter)},
        "shard": {"S": f"all#{shard}"},
    }
    if letter.organization_id is not None:
        item["organization_id"] = {"S": letter.organization_id}
    if letter.device_id is not None:
        item["device_id"] = {"S": letter.device_id}
    return item


def _letter(item: Mapping[str, Any]) -> DeadLetter:
    organization = item.get("organization_id")
    device = item.get("device_id")
    return DeadLetter(
        dead_letter_id=item["dead_letter_id"]["S"],
        record=orjson.loads(item["record"]["S"]),
        reason=RejectReason(item["reason"]["S"]),
        message=item["message"]["S"],
        source=Source(item["source"]["S"]),
        received_at_ms=int(item["received_at_ms"]["N"]),
        organization_id=organization["S"] if organization else None,
        device_id=device["S"] if device else None,
    )
