"""The CounterStore on DynamoDB (aioboto3), for AWS deployments: one table (pk, sk) shared by every replica.

    pk org#<org>      sk device#<id>      a device's latest fact: `status`, `at_ms`
    pk org#<org>      sk alert#<id>       an alert's: `severity`, `active`, `at_ms`
    pk org#<org>      sk counters         one number per counter (device:online, alert:critical, …), `version`
    pk org#<org>      sk snapshot#<day>   `devices_online`, `active_alerts`, the counters' `version` it shows
    pk org#<org>      sk volume#<day>     `bytes`
    pk org#<org>      sk reconciled       `at_ms`
    pk event#<id>     sk event            a counted event id: `at_ms`, `seen_shard` for the `seen` index

Each fact is one transaction: its item put on condition it is still what was read (else it is read again),
and the counters moved by atomic ADDs (with `version`). A batch is applied fact by fact, so a crash in the
middle leaves the first facts applied; redelivery applies the batch again and the applied facts change
nothing. The day's snapshot is then written from the counters read strongly consistent, on condition that
no newer version is stored. A volume event is one transaction: a conditional put of its marker and the ADDs
to its days. Event markers are found for forgetting through the `seen` index (SEEN_SHARDS partitions keyed
by a hash of the id, sorted by time), which follows writes within about a second. An organization's items
are one partition of counters, devices and alerts, read with strongly consistent Queries.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.analytics.domain.dashboard import Snapshot, StoredNumbers, active_alerts, devices_online
from services.analytics.domain.facts import (
    DELETED,
    AlertFact,
    Deltas,
    DeviceFact,
    StoredAlert,
    StoredDevice,
    alert_deltas,
    device_deltas,
    month_start,
)
from services.runtime.dynamodb import (
    CONDITION_FAILED,
    Index,
    define_table,
    ensure_table,
    error_code,
    put_items,
    query_items,
    transact_unless_refused,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

SEEN = "seen"
SEEN_SHARDS = 8
SEEN_INDEX = Index(SEEN, "seen_shard", "at_ms", "KEYS_ONLY")
_COUNTERS = "counters"
_NOT_COUNTERS = frozenset({"pk", "sk", "version"})


def table_definition(table: str) -> dict[str, Any]:
    return define_table(table, range_key="sk", indexes=[SEEN_INDEX], numbers=frozenset({"at_ms"}))


class DynamoDbCounterStore:
    def __init__(self, client: DynamoDBClient, table: str):
        self._client = client
        self._table = table

    async def ensure_table(self) -> None:
        await ensure_table(self._client, table_definition(self._table))

    async def close(self) -> None:
        """The client belongs to whoever opened it (the bootstrap's resources)."""

    async def apply_devices(self, facts: Sequence[DeviceFact], day: str) -> None:
        touched: set[str] = set()
        for fact in facts:
            if await self._apply_device(fact):
                touched.add(fact.organization_id)
        await self._snapshot(touched, day)

    async def apply_alerts(self, facts: Sequence[AlertFact], day: str) -> None:
        touched: set[str] = set()
        for fact in facts:
            if await self._apply_alert(fact):
                touched.add(fact.organization_id)
        await self._snapshot(touched, day)

    async def live_device_ids(self, organization_id: str) -> set[str]:
        found = await self._items(organization_id, "device#")
        return {item["sk"]["S"].removeprefix("device#") for item in found if item["status"]["S"] != DELETED}

    async def active_alert_ids(self, organization_id: str) -> set[str]:
        found = await self._items(organization_id, "alert#")
        return {item["sk"]["S"].removeprefix("alert#") for item in found if item["active"]["BOOL"]}

    async def add_volume(self, event_id: str, organization_id: str, bytes_by_day: Mapping[str, int]) -> bool:
        marker = seen_marker(event_id)
        marker["Put"]["TableName"] = self._table
        adds: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _key(organization_id, f"volume#{day}"),
                    "UpdateExpression": "ADD #bytes :n",
                    "ExpressionAttributeNames": {"#bytes": "bytes"},
                    "ExpressionAttributeValues": {":n": _n(n)},
                }
            }
            for day, n in bytes_by_day.items()
        ]
        return await transact_unless_refused(self._client, [marker, *adds])

    async def set_volume(self, organization_id: str, bytes_by_day: Mapping[str, int]) -> None:
        puts = [_key(organization_id, f"volume#{day}") | {"bytes": _n(n)} for day, n in bytes_by_day.items()]
        await put_items(self._client, self._table, puts)

    async def numbers(self, organization_id: str, today: str) -> StoredNumbers:
        counters = await self._counters(organization_id)
        volume = {
            item["sk"]["S"].removeprefix("volume#"): int(item["bytes"]["N"])
            async for item in self._between(organization_id, f"volume#{month_start(today)}", f"volume#{today}")
        }
        baseline = None
        async for item in self._between(organization_id, "snapshot#", f"snapshot#{today}", newest_first=True):
            day = item["sk"]["S"].removeprefix("snapshot#")
            if day < today:
                baseline = Snapshot(day, int(item["devices_online"]["N"]), int(item["active_alerts"]["N"]))
                break
        reconciled = await self._get_item(_key(organization_id, "reconciled"))
        return StoredNumbers(
            counters={name: n for name, n in counters.items() if name != "version"},
            volume_today=volume.get(today, 0),
            volume_month=sum(volume.values()),
            baseline=baseline,
            reconciled_at_ms=int(reconciled["at_ms"]["N"]) if reconciled else None,
        )

    async def mark_reconciled(self, organization_id: str, at_ms: int) -> None:
        await self._client.put_item(
            TableName=self._table, Item=_key(organization_id, "reconciled") | {"at_ms": _n(at_ms)}
        )

    async def forget_events_before(self, at_ms: int) -> int:
        return await forget_seen_before(self._client, self._table, at_ms)

    async def _apply_device(self, fact: DeviceFact) -> bool:
        """Apply one fact; False when it changed nothing (older than what is stored)."""
        key = _key(fact.organization_id, f"device#{fact.device_id}")
        while True:
            item = await self._get_item(key)
            stored = StoredDevice(item["status"]["S"], int(item["at_ms"]["N"])) if item else None
            deltas = device_deltas(stored, fact)
            if deltas is None:
                return False
            put = key | {"status": _s(fact.status), "at_ms": _n(fact.at_ms)}
            if stored is None:
                condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
            else:
                condition = {
                    "ConditionExpression": "#status = :status AND at_ms = :at",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":status": _s(stored.status), ":at": _n(stored.at_ms)},
                }
            if await self._write_fact(fact.organization_id, put, condition, deltas):
                return True

    async def _apply_alert(self, fact: AlertFact) -> bool:
        key = _key(fact.organization_id, f"alert#{fact.alert_id}")
        while True:
            item = await self._get_item(key)
            stored = StoredAlert(item["severity"]["S"], bool(item["active"]["BOOL"])) if item else None
            deltas = alert_deltas(stored, fact)
            if deltas is None:
                return False
            severity = stored.severity if stored else fact.severity
            put = key | {"severity": _s(severity), "active": {"BOOL": fact.active}, "at_ms": _n(fact.at_ms)}
            if stored is None:
                condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
            else:
                condition = {
                    "ConditionExpression": "active = :active",
                    "ExpressionAttributeValues": {":active": {"BOOL": stored.active}},
                }
            if await self._write_fact(fact.organization_id, put, condition, deltas):
                return True

    async def _write_fact(self, organization_id: str, put: Any, condition: Any, deltas: Deltas) -> bool:
        """The fact's item and its counter deltas in one transaction; False when the item changed since read."""
        names = {f"#c{i}": name for i, name in enumerate(deltas)}
        values: Any = {f":c{i}": _n(delta) for i, delta in enumerate(deltas.values())} | {":one": _n(1)}
        adds = ", ".join(f"#c{i} :c{i}" for i in range(len(deltas)))
        counters: Any = {
            "TableName": self._table,
            "Key": _key(organization_id, _COUNTERS),
            "UpdateExpression": "ADD " + (adds + ", " if adds else "") + "version :one",
            "ExpressionAttributeValues": values,
        }
        if names:
            counters["ExpressionAttributeNames"] = names
        writes: Any = [{"Put": {"TableName": self._table, "Item": put, **condition}}, {"Update": counters}]
        return await transact_unless_refused(self._client, writes)

    async def _snapshot(self, organizations: set[str], day: str) -> None:
        for organization_id in organizations:
            counters = await self._counters(organization_id)
            version = counters.get("version", 0)
            try:
                await self._client.put_item(
                    TableName=self._table,
                    Item=_key(organization_id, f"snapshot#{day}")
                    | {
                        "devices_online": _n(devices_online(counters)),
                        "active_alerts": _n(active_alerts(counters)),
                        "version": _n(version),
                    },
                    ConditionExpression="attribute_not_exists(pk) OR version <= :version",
                    ExpressionAttributeValues={":version": _n(version)},
                )
            except ClientError as error:
                if error_code(error) != CONDITION_FAILED:
                    raise  # else a writer that read newer counters wrote the snapshot already

    async def _counters(self, organization_id: str) -> dict[str, int]:
        item = await self._get_item(_key(organization_id, _COUNTERS))
        return {name: int(value["N"]) for name, value in (item or {}).items() if name not in _NOT_COUNTERS} | {
            "version": int(item["version"]["N"]) if item else 0
        }

    async def _items(self, organization_id: str, prefix: str) -> list[dict[str, Any]]:
        request = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(f"org#{organization_id}"), ":prefix": _s(prefix)},
            "ConsistentRead": True,
        }
        return [item async for item in query_items(self._client, request)]

    def _between(self, organization_id: str, low: str, high: str, *, newest_first: bool = False) -> Any:
        return query_items(
            self._client,
            {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {":pk": _s(f"org#{organization_id}"), ":low": _s(low), ":high": _s(high)},
                "ConsistentRead": True,
                "ScanIndexForward": not newest_first,
            },
        )

    async def _get_item(self, key: dict[str, Any]) -> dict[str, Any] | None:
        reply = await self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = reply.get("Item")
        return item


def seen_marker(event_id: str) -> Any:
    """A Put of the event id's marker, refused when the id was counted before (goes in its transaction)."""
    return {
        "Put": {
            "Item": _event_key(event_id) | {"at_ms": _n(_now_ms()), "seen_shard": _s(_shard(event_id))},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


async def forget_seen_before(client: DynamoDBClient, table: str, at_ms: int) -> int:
    """Delete the event markers of `table` older than `at_ms`, found through the `seen` index; how many."""
    forgotten = 0
    for shard in range(SEEN_SHARDS):
        request = {
            "TableName": table,
            "IndexName": SEEN,
            "KeyConditionExpression": "seen_shard = :shard AND at_ms < :before",
            "ExpressionAttributeValues": {":shard": _s(f"seen#{shard}"), ":before": _n(at_ms)},
        }
        async for item in query_items(client, request):
            # Conditional on its time: an id counted again since (forgotten, then re-added) stays.
            try:
                await client.delete_item(
                    TableName=table,
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    ConditionExpression="at_ms < :before",
                    ExpressionAttributeValues={":before": _n(at_ms)},
                )
                forgotten += 1
            except ClientError as error:
                if error_code(error) != CONDITION_FAILED:
                    raise
    return forgotten


def _s(value: str) -> Any:
    return {"S": value}


def _n(value: int) -> Any:
    return {"N": str(value)}


def _key(organization_id: str, sk: str) -> dict[str, Any]:
    return {"pk": _s(f"org#{organization_id}"), "sk": _s(sk)}


def _event_key(event_id: str) -> dict[str, Any]:
    return {"pk": _s(f"event#{event_id}"), "sk": _s("event")}


def _shard(event_id: str) -> str:
    return f"seen#{zlib.crc32(event_id.encode()) % SEEN_SHARDS}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
