"""The FirmwareStore on DynamoDB (aioboto3), for AWS deployments: one table (pk, sk) shared by every replica.

Items:
    pk org#<org>        sk firmware#<id>       the record: one attribute per column of catalog_rows (absent
                                               when None), device types as a string list
    pk org#<org>        sk version#<version>   guard: the record holding that version (`holder`), with its
                                               `status` and `upload_expires_at_ms`, so the guard alone tells
                                               whether the version is still held (Firmware.holds_version)
    pk object#<key>     sk object              guard: the record whose image lives at that key

Creating a record is one transaction putting the record and the object-key guard unless they exist and
taking the version guard unless its holder still holds it at `now`: two uploads of one version cannot both
win. `replace` is a conditional UpdateItem on (status, processing_started_at) and, while the record holds
its version's guard, updates the guard in the same transaction. An organization's firmware is one
partition, read with strongly consistent Queries (lists, versions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.firmware.adapters.catalog_rows import COLUMNS, MUTABLE, firmware_from_row, firmware_row, to_ms
from services.firmware.domain.catalog.firmware import Firmware, FirmwareStatus
from services.firmware.domain.catalog.listing import FirmwareFilter
from services.kernel.pagination import Page, PageRequest
from services.runtime.dynamodb import (
    CONDITION_FAILED,
    REFUSED,
    cancellation_codes,
    define_table,
    ensure_table,
    error_code,
    query_items,
    transact_retrying_conflicts,
    transact_unless_refused,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

_NAMES = COLUMNS.split(", ")
_ABSENT = "attribute_not_exists(pk)"
# The version is free when nobody holds it, its holder was rejected, or its holder's upload window closed.
_VERSION_FREE = (
    "attribute_not_exists(holder) OR #status = :rejected "
    "OR (#status = :pending AND attribute_exists(upload_expires_at_ms) AND upload_expires_at_ms < :now)"
)


def table_definition(table: str) -> dict[str, Any]:
    return define_table(table, range_key="sk")


class DynamoDbFirmwareStore:
    def __init__(self, client: DynamoDBClient, table: str):
        self._client = client
        self._table = table

    async def ensure_table(self) -> None:
        await ensure_table(self._client, table_definition(self._table))

    async def close(self) -> None:
        """The client belongs to whoever opened it (the bootstrap's resources)."""

    async def add_unless_version_taken(self, firmware: Firmware, now: datetime) -> bool:
        guard = _version_guard(firmware)
        writes: Any = [
            {"Put": {"TableName": self._table, "Item": _item(firmware), "ConditionExpression": _ABSENT}},
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _object_key(firmware.object_key)
                    | {"holder": _s(firmware.firmware_id), "org_id": _s(firmware.org_id)},
                    "ConditionExpression": _ABSENT,
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": guard,
                    "ConditionExpression": _VERSION_FREE,
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":rejected": _s(FirmwareStatus.REJECTED.value),
                        ":pending": _s(FirmwareStatus.PENDING_UPLOAD.value),
                        ":now": _n(to_ms(now) or 0),
                    },
                }
            },
        ]
        return await transact_unless_refused(self._client, writes)

    async def get(self, org_id: str, firmware_id: str) -> Firmware | None:
        item = await self._get_item(_record_key(org_id, firmware_id))
        return _firmware(item) if item else None

    async def find_version(self, org_id: str, version: str) -> Firmware | None:
        candidates = [
            f for f in await self._records(org_id) if f.version == version and f.status is FirmwareStatus.VALIDATED
        ]
        return max(candidates, key=lambda f: (f.created_at, f.firmware_id), default=None)

    async def find_by_object_key(self, object_key: str) -> Firmware | None:
        guard = await self._get_item(_object_key(object_key))
        if guard is None:
            return None
        # The record lives in its organization's partition: the key item names both.
        item = await self._get_item(_record_key(str(guard["org_id"]["S"]), str(guard["holder"]["S"])))
        return _firmware(item) if item else None

    async def list(self, org_id: str, query: FirmwareFilter, page: PageRequest) -> Page[Firmware]:
        found = [f for f in await self._records(org_id) if query.matches(f)]
        found.sort(key=lambda f: (f.created_at, f.firmware_id), reverse=True)
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def replace(self, firmware: Firmware, *, expected: Firmware) -> bool:
        update = self._record_update(firmware, expected)
        guard: Any = {
            "TableName": self._table,
            "Key": _version_key(firmware.org_id, firmware.version),
            "UpdateExpression": "SET #status = :status" + _expiry_update(firmware),
            "ConditionExpression": "holder = :me",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": _s(firmware.status.value), ":me": _s(firmware.firmware_id)}
            | _expiry_values(firmware),
        }
        try:
            await transact_retrying_conflicts(self._client, [{"Update": update}, {"Update": guard}])
            return True
        except ClientError as error:
            codes = cancellation_codes(error)
            if REFUSED not in codes:
                raise
            if codes[0] == REFUSED:
                return False  # the record moved on
        # Another record holds the version now (this one's upload window had closed): the record alone.
        try:
            await self._client.update_item(**update)
        except ClientError as error:
            if error_code(error) == CONDITION_FAILED:
                return False
            raise
        return True

    def _record_update(self, firmware: Firmware, expected: Firmware) -> Any:
        values = dict(zip(_NAMES, firmware_row(firmware), strict=True))
        sets, removes, bound = [], [], {}
        for name in MUTABLE:
            if values[name] is None:
                removes.append(f"#{name}")
            else:
                sets.append(f"#{name} = :{name}")
                bound[f":{name}"] = _value(values[name])
        condition = "attribute_exists(pk) AND #status = :expected_status AND "
        started = to_ms(expected.processing_started_at)
        if started is None:
            condition += "attribute_not_exists(#processing_started_at_ms)"
        else:
            condition += "#processing_started_at_ms = :expected_started"
            bound[":expected_started"] = _n(started)
        bound[":expected_status"] = _s(expected.status.value)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        return {
            "TableName": self._table,
            "Key": _record_key(firmware.org_id, firmware.firmware_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {f"#{name}": name for name in MUTABLE},
            "ExpressionAttributeValues": bound,
        }

    async def _records(self, org_id: str) -> Sequence[Firmware]:
        # An organization's firmware is one partition of modest size: read it whole, strongly consistent.
        request = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :org AND begins_with(sk, :firmware)",
            "ExpressionAttributeValues": {":org": _s(f"org#{org_id}"), ":firmware": _s("firmware#")},
            "ConsistentRead": True,
        }
        return [_firmware(item) async for item in query_items(self._client, request)]

    async def _get_item(self, key: Mapping[str, Any]) -> Mapping[str, Any] | None:
        reply = await self._client.get_item(TableName=self._table, Key=dict(key), ConsistentRead=True)
        return reply.get("Item")


def _s(value: str) -> Any:
    return {"S": value}


def _n(value: int) -> Any:
    return {"N": str(value)}


def _value(value: str | int) -> Any:
    return _n(value) if isinstance(value, int) else _s(value)


def _record_key(org_id: str, firmware_id: str) -> dict[str, Any]:
    return {"pk": _s(f"org#{org_id}"), "sk": _s(f"firmware#{firmware_id}")}


def _version_key(org_id: str, version: str) -> dict[str, Any]:
    return {"pk": _s(f"org#{org_id}"), "sk": _s(f"version#{version}")}


def _object_key(object_key: str) -> dict[str, Any]:
    return {"pk": _s(f"object#{object_key}"), "sk": _s("object")}


def _expiry_update(firmware: Firmware) -> str:
    return " REMOVE upload_expires_at_ms" if firmware.upload_expires_at is None else ", upload_expires_at_ms = :expiry"


def _expiry_values(firmware: Firmware) -> dict[str, Any]:
    expiry = to_ms(firmware.upload_expires_at)
    return {} if expiry is None else {":expiry": _n(expiry)}


def _version_guard(firmware: Firmware) -> dict[str, Any]:
    guard = _version_key(firmware.org_id, firmware.version) | {
        "holder": _s(firmware.firmware_id),
        "status": _s(firmware.status.value),
    }
    expiry = to_ms(firmware.upload_expires_at)
    if expiry is not None:
        guard["upload_expires_at_ms"] = _n(expiry)
    return guard


def _item(firmware: Firmware) -> dict[str, Any]:
    item = _record_key(firmware.org_id, firmware.firmware_id)
    for name, value in zip(_NAMES, firmware_row(firmware), strict=True):
        if name == "device_types":
            item[name] = {"L": [_s(t) for t in firmware.device_types]}
        elif value is not None:
            item[name] = _value(value)
    return item


def _firmware(item: Mapping[str, Any]) -> Firmware:
    row: list[Any] = []
    for name in _NAMES:
        attribute = item.get(name)
        if attribute is None:
            row.append(None)
        elif name == "device_types":
            row.append([t["S"] for t in attribute["L"]])
        elif "N" in attribute:
            row.append(int(attribute["N"]))
        else:
            row.append(attribute["S"])
    return firmware_from_row(row)
