"""The DynamoDB single-table layout of the device repository.

One partition per organization (pk = organization id) holds three kinds of item, told apart by the sort key:

    device#<deviceId>                             the device: indexed attributes + the JSON document
    serial#<serialNumber>                         guard owning a serial number for one live device
    change#<deviceId>#<changedAt>#<changeId>      one recorded update (ISO time sorts chronologically)

Listing queries `begins_with(sk, "device#")` on the partition; the guard items make serial numbers unique
per organization inside TransactWriteItems, which DynamoDB cannot do with an index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from services.device.adapters.records import change_to_json, device_to_json
from services.device.domain.listing import DeviceFilters, instant_key, text_key
from services.device.domain.model import Device, DeviceChange, DeviceStatus

if TYPE_CHECKING:  # the stubs are a development dependency
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

DEVICE_PREFIX = "device#"
SERIAL_PREFIX = "serial#"
CHANGE_PREFIX = "change#"

Item: TypeAlias = "dict[str, AttributeValueTypeDef]"


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def device_key(organization_id: str, device_id: str) -> Item:
    return {"pk": s(organization_id), "sk": s(DEVICE_PREFIX + device_id)}


def serial_key(organization_id: str, serial_number: str) -> Item:
    return {"pk": s(organization_id), "sk": s(SERIAL_PREFIX + serial_number)}


def changes_prefix(device_id: str) -> str:
    return f"{CHANGE_PREFIX}{device_id}#"


def device_item(device: Device) -> Item:
    item = device_key(device.organization_id, device.device_id)
    item |= {
        "device_id": s(device.device_id),
        "status": s(device.status.value),
        "device_type": s(device.device_type),
        "name_key": s(text_key(device.name)),
        "tags": {"L": [s(t) for t in device.tags]},
        "document": s(device_to_json(device).decode()),
    }
    address = device.location.address if device.location else None
    if address is not None:
        item["address_key"] = s(text_key(address))
    if device.last_seen is not None:
        item["last_seen"] = s(instant_key(device.last_seen))
    if device.serial_number is not None:
        item["serial_number"] = s(device.serial_number)
    return item


def change_item(change: DeviceChange) -> Item:
    sort_key = f"{changes_prefix(change.device_id)}{instant_key(change.changed_at)}#{change.change_id}"
    return {
        "pk": s(change.organization_id),
        "sk": s(sort_key),
        "document": s(change_to_json(change).decode()),
    }


def document_of(item: Mapping[str, Any]) -> str:
    return str(item["document"]["S"])


def put(table: str, item: Item, condition: str, values: Item | None = None) -> TransactWriteItemTypeDef:
    put_spec: Any = {"TableName": table, "Item": item, "ConditionExpression": condition}
    if values:
        put_spec["ExpressionAttributeValues"] = values
    return {"Put": put_spec}


def serial_guard_writes(table: str, device: Device, previous: Device | None) -> list[TransactWriteItemTypeDef]:
    """Move the serial-number guard when the live serial number changes (set, changed, removed, deleted)."""
    old = previous.serial_number if previous is not None and not previous.is_deleted else None
    new = device.serial_number if not device.is_deleted else None
    if old == new:
        return []
    # A guard may only be taken over or released by the device owning it.
    owned = "attribute_not_exists(sk) OR device_id = :me"
    me: Item = {":me": s(device.device_id)}
    writes: list[TransactWriteItemTypeDef] = []
    if old is not None:
        key = serial_key(device.organization_id, old)
        writes.append(
            {"Delete": {"TableName": table, "Key": key, "ConditionExpression": owned, "ExpressionAttributeValues": me}}
        )
    if new is not None:
        guard = serial_key(device.organization_id, new) | {"device_id": s(device.device_id)}
        writes.append(put(table, guard, owned, me))
    return writes


def list_filter(filters: DeviceFilters) -> tuple[str, dict[str, str], Item]:
    """FilterExpression, names and values for listing: live devices matching every given filter."""
    clauses = ["#status <> :deleted"]
    names = {"#status": "status"}
    values: Item = {":deleted": s(DeviceStatus.DELETED.value)}
    if filters.status is not None:
        clauses.append("#status = :status")
        values[":status"] = s(filters.status.value)
    if filters.device_type is not None:
        clauses.append("device_type = :device_type")
        values[":device_type"] = s(filters.device_type)
    if filters.location is not None:
        clauses.append("contains(address_key, :location)")
        values[":location"] = s(text_key(filters.location))
    for index, tag in enumerate(filters.tags):
        # contains() on a list attribute tests membership of the element.
        clauses.append(f"contains(tags, :tag{index})")
        values[f":tag{index}"] = s(tag)
    return " AND ".join(clauses), names, values
