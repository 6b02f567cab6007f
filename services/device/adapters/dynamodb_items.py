"""The DynamoDB single-table layout of the device repository.

One partition per organization (pk = organization id) holds three kinds of item, told apart by the sort key:

    device#<deviceId>                             the device: indexed attributes + the JSON document
    serial#<serialNumber>                         guard owning a serial number for one live device
    change#<deviceId>#<changedAt>#<changeId>      one recorded update (ISO time sorts chronologically)

and one lookup item per device outside the organizations' partitions, written with the device:

    pk = @device#<deviceId>, sk = owner           the organization the device belongs to

Listing queries `begins_with(sk, "device#")` on the partition; the guard items make serial numbers unique
per organization inside TransactWriteItems, which DynamoDB cannot do with an index. Platform services find a
device by id alone through its lookup item: two strongly consistent BatchGetItems instead of a GSI, whose
eventual consistency would make a just-registered device look unknown to telemetry.

The sparse GSI `heartbeat` holds only online devices (only they carry `hb_shard` and `heartbeat_at`), keyed
by a shard number so that the heartbeat updates of many devices spread over several index partitions, and
sorted by the last sign of life: the sweep reads the silent end of each shard. KEYS_ONLY, so that it is
written only when a key attribute changes.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from services.device.adapters.records import change_to_json, device_from_json, device_to_json
from services.device.adapters.state_records import state_from_json, state_to_json
from services.device.domain.listing import DeviceFilters, instant_key, text_key
from services.device.domain.model import Device, DeviceChange, DeviceState, DeviceStatus

if TYPE_CHECKING:  # the stubs are a development dependency
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

DEVICE_PREFIX = "device#"
SERIAL_PREFIX = "serial#"
CHANGE_PREFIX = "change#"
OWNER_PREFIX = "@device#"
OWNER_SORT_KEY = "owner"
HEARTBEAT_INDEX = "heartbeat"
# Each shard is one index partition (about 1,000 writes/s); raise it for more devices reporting per second.
HEARTBEAT_SHARDS = 8
# Saving a device requires its stored revision to be the one it was read at (items stored before revisions
# existed have none: revision 0).
SAME_REVISION = "attribute_exists(sk) AND (attribute_not_exists(revision) OR revision = :revision)"

Item: TypeAlias = "dict[str, AttributeValueTypeDef]"


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def device_key(organization_id: str, device_id: str) -> Item:
    return {"pk": s(organization_id), "sk": s(DEVICE_PREFIX + device_id)}


def owner_key(device_id: str) -> Item:
    return {"pk": s(OWNER_PREFIX + device_id), "sk": s(OWNER_SORT_KEY)}


def owner_item(device: Device) -> Item:
    return owner_key(device.device_id) | {"organization_id": s(device.organization_id)}


def shard_name(number: int) -> str:
    return f"hb#{number}"


def heartbeat_shard(device_id: str) -> str:
    # crc32, not hash(): the shard of a device must be the same in every process.
    return shard_name(zlib.crc32(device_id.encode()) % HEARTBEAT_SHARDS)


def table_definition(table: str) -> Any:
    """CreateTable arguments: the keys of the single table plus the heartbeat index."""
    return {
        "TableName": table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "hb_shard", "heartbeat_at")
        ],
        "GlobalSecondaryIndexes": [heartbeat_index()],
        "BillingMode": "PAY_PER_REQUEST",
    }


def heartbeat_index() -> Any:
    return {
        "IndexName": HEARTBEAT_INDEX,
        "KeySchema": [
            {"AttributeName": "hb_shard", "KeyType": "HASH"},
            {"AttributeName": "heartbeat_at", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }


def serial_key(organization_id: str, serial_number: str) -> Item:
    return {"pk": s(organization_id), "sk": s(SERIAL_PREFIX + serial_number)}


def changes_prefix(device_id: str) -> str:
    return f"{CHANGE_PREFIX}{device_id}#"


def device_item(device: Device, revision: int | None = None) -> Item:
    item = device_key(device.organization_id, device.device_id)
    item |= {
        "device_id": s(device.device_id),
        "status": s(device.status.value),
        "device_type": s(device.device_type),
        "name_key": s(text_key(device.name)),
        "tags": {"L": [s(t) for t in device.tags]},
        "document": s(device_to_json(device).decode()),
        "state": s(state_to_json(device.state, revision).decode()),
        "revision": {"N": str(device.revision if revision is None else revision)},
    }
    if device.status is DeviceStatus.ONLINE and device.heartbeat_at is not None:
        item["hb_shard"] = s(heartbeat_shard(device.device_id))
        item["heartbeat_at"] = s(instant_key(device.heartbeat_at))
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


def revision_put(table: str, device: Device, previous: Device) -> TransactWriteItemTypeDef:
    """Store `device` as the successor of `previous`, provided nobody saved it since `previous` was read."""
    item = device_item(device, revision=previous.revision + 1)
    return put(table, item, SAME_REVISION, {":revision": {"N": str(previous.revision)}})


def document_of(item: Mapping[str, Any]) -> str:
    return str(item["document"]["S"])


def device_of(item: Mapping[str, Any]) -> Device:
    """The device from its two documents; an item of the first release has its state in its document."""
    state = item.get("state")
    return device_from_json(document_of(item), None if state is None else str(state["S"]))


def state_of(item: Mapping[str, Any]) -> DeviceState:
    state = item.get("state") or item["document"]
    device_id = str(item["sk"]["S"]).removeprefix(DEVICE_PREFIX)
    return state_from_json(str(state["S"]), device_id, str(item["pk"]["S"]))


def state_update(table: str, state: DeviceState, previous: DeviceState) -> Any:
    """UpdateItem arguments writing the state alone (the registration document is not touched), provided
    nobody saved the device since `previous` was read. Leaving or entering online moves it out of or into
    the heartbeat index."""
    revision = previous.revision + 1
    sets = ["#state = :state", "#status = :status", "revision = :next"]
    removes = []
    values: Item = {
        ":state": s(state_to_json(state, revision).decode()),
        ":status": s(state.status.value),
        ":next": {"N": str(revision)},
        ":revision": {"N": str(previous.revision)},
    }
    if state.last_seen is not None:
        sets.append("last_seen = :last_seen")
        values[":last_seen"] = s(instant_key(state.last_seen))
    if state.status is DeviceStatus.ONLINE and state.heartbeat_at is not None:
        sets += ["hb_shard = :shard", "heartbeat_at = :heartbeat"]
        values[":shard"] = s(heartbeat_shard(state.device_id))
        values[":heartbeat"] = s(instant_key(state.heartbeat_at))
    else:
        removes += ["hb_shard", "heartbeat_at"]
    return {
        "TableName": table,
        "Key": device_key(state.organization_id, state.device_id),
        "UpdateExpression": "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
        "ConditionExpression": SAME_REVISION,
        "ExpressionAttributeNames": {"#state": "state", "#status": "status"},
        "ExpressionAttributeValues": values,
    }


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
