"""What the contract suite cannot see: indexes behind the cross-organization queries, and stores created by the
first release (SQLite file, DynamoDB table) upgraded in place when the service starts."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aioboto3
import orjson

from services.device.adapters import dynamodb_items as items
from services.device.adapters.dynamodb import DynamoDbDeviceRepository
from services.device.adapters.records import device_to_json
from services.device.adapters.sqlite import SqliteDeviceRepository
from services.device.adapters.sqlite_schema import BY_IDS_SQL, SILENT_SQL, STATES_BY_IDS_SQL
from services.device.domain.listing import instant_key, text_key
from services.device.domain.model import Device, DeviceStatus, Reading
from services.kernel.ids import new_id
from tests.support.moto import REGION
from tests.unit.device.builders import NOW, make_device

FIRST_RELEASE_SQLITE = """
CREATE TABLE devices (
    organization_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    status TEXT NOT NULL,
    device_type TEXT NOT NULL,
    serial_number TEXT,
    name_key TEXT NOT NULL,
    address_key TEXT,
    last_seen TEXT,
    tags TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (organization_id, device_id)
) WITHOUT ROWID;
CREATE INDEX devices_by_last_seen ON devices (organization_id, last_seen);
"""


def first_release_document(device: Device) -> str:
    """One document holding the whole device, state included, with ISO instants."""
    document = orjson.loads(device_to_json(device))
    reading = device.last_reading
    document |= {
        "status": device.status.value,
        "lastSeen": instant_key(device.last_seen) if device.last_seen else None,
        "lastReading": None if reading is None else {"values": reading.values, "at": instant_key(reading.timestamp)},
    }
    return orjson.dumps(document).decode()


def plan(path: Path, sql: str, *params: object) -> str:
    with sqlite3.connect(path) as db:
        return " / ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))


def test_the_cross_organization_queries_read_their_indexes_not_the_table(tmp_path: Path) -> None:
    SqliteDeviceRepository(tmp_path / "devices.db").close()
    silent = plan(tmp_path / "devices.db", SILENT_SQL, instant_key(NOW), 10)
    assert "USING INDEX devices_silent" in silent
    assert "SCAN devices" not in silent
    for by_ids in (BY_IDS_SQL, STATES_BY_IDS_SQL):
        assert "USING INDEX devices_by_id" in plan(
            tmp_path / "devices.db", by_ids.format(marks="?, ?"), "dev-1", "dev-2"
        )


async def test_a_first_release_sqlite_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "devices.db"
    online = make_device(status=DeviceStatus.ONLINE, last_seen=NOW, last_reading=Reading({"t": 1.0}, NOW))
    offline = make_device(status=DeviceStatus.OFFLINE, last_seen=NOW)
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_RELEASE_SQLITE)
        for device in (online, offline):
            db.execute(
                "INSERT INTO devices VALUES (?, ?, ?, ?, NULL, ?, NULL, ?, '[]', ?)",
                (
                    device.organization_id,
                    device.device_id,
                    device.status.value,
                    device.device_type,
                    text_key(device.name),
                    instant_key(NOW),
                    first_release_document(device),
                ),
            )
    for _ in range(2):  # the second opening finds nothing left to do
        repository = SqliteDeviceRepository(path)
        stored = await repository.get("org-1", online.device_id)
        assert stored == online
        # The online device's last reading is its heartbeat: the sweep finds it like any other.
        assert [d.device_id for d in await repository.find_silent(NOW + timedelta(seconds=1), 10)] == [online.device_id]
        repository.close()
    repository = SqliteDeviceRepository(path)
    assert stored is not None
    await repository.save(replace(stored, name="upgraded"), previous=stored)
    assert [d.name for d in await repository.get_many_across_organizations([online.device_id])] == ["upgraded"]
    repository.close()


async def test_a_first_release_dynamodb_table_is_upgraded_in_place(moto_endpoint: str) -> None:
    table = f"devices-{new_id('t')}"
    online = make_device(status=DeviceStatus.ONLINE, last_seen=NOW, organization_id="org-7")
    offline = make_device(status=DeviceStatus.OFFLINE)
    async with aioboto3.Session().client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION) as client:
        definition = items.table_definition(table)
        await client.create_table(
            TableName=table,
            KeySchema=definition["KeySchema"],
            AttributeDefinitions=definition["AttributeDefinitions"][:2],
            BillingMode="PAY_PER_REQUEST",
        )
        for device in (online, offline):
            first_release_item = items.device_key(device.organization_id, device.device_id) | {
                "device_id": items.s(device.device_id),
                "status": items.s(device.status.value),
                "document": items.s(first_release_document(device)),
            }
            if device.last_seen is not None:
                first_release_item["last_seen"] = items.s(instant_key(device.last_seen))
            await client.put_item(TableName=table, Item=first_release_item)

        repository = DynamoDbDeviceRepository(client, table)
        await repository.ensure_table()
        described = await client.describe_table(TableName=table)
        assert [i["IndexName"] for i in described["Table"]["GlobalSecondaryIndexes"]] == [items.HEARTBEAT_INDEX]
        # Found by id alone (lookup items written), the state read from the first-release document.
        states = await repository.get_states([online.device_id, offline.device_id])
        assert sorted(states, key=lambda s: s.status) == [offline.state, online.state]
        # In the index with its last reading as its heartbeat: the sweep finds it.
        silent = await repository.find_silent(NOW + timedelta(seconds=1), 10)
        assert [(s.device_id, s.heartbeat_at) for s in silent] == [(online.device_id, None)]
        await repository.ensure_table()  # nothing left to do
        stored = await repository.get("org-7", online.device_id)
        assert stored == online


async def test_the_dynamodb_heartbeat_index_holds_only_online_devices(moto_endpoint: str) -> None:
    table = f"devices-{new_id('t')}"
    async with aioboto3.Session().client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION) as client:
        repository = DynamoDbDeviceRepository(client, table)
        await repository.ensure_table()
        online = make_device(status=DeviceStatus.ONLINE, heartbeat_at=NOW)
        await repository.add(online)
        await repository.add(make_device(status=DeviceStatus.OFFLINE, heartbeat_at=NOW))
        indexed = await client.scan(TableName=table, IndexName=items.HEARTBEAT_INDEX)
        assert [i["pk"]["S"] + "/" + i["sk"]["S"] for i in indexed["Items"]] == [f"org-1/device#{online.device_id}"]
        assert set(indexed["Items"][0]) == {"pk", "sk", "hb_shard", "heartbeat_at"}, "keys only"
