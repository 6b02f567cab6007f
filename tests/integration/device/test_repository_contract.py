"""One contract for every DeviceRepository: memory, SQLite and DynamoDB (on the moto server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aioboto3
import pytest

from services.device.adapters.dynamodb import DynamoDbDeviceRepository
from services.device.adapters.memory import InMemoryDeviceRepository
from services.device.adapters.sqlite import SqliteDeviceRepository
from services.device.domain.errors import DeviceAlreadyExists
from services.device.domain.listing import DeviceFilters, DeviceQuery, SortField, SortOrder
from services.device.domain.model import DeviceStatus, Location, Reading
from services.device.ports import DeviceRepository
from services.kernel.ids import new_id
from services.kernel.pagination import PageRequest
from tests.support.moto import REGION
from tests.unit.device.builders import NOW, make_change, make_device


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
async def repository(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DeviceRepository]:
    if request.param == "memory":
        yield InMemoryDeviceRepository()
    elif request.param == "sqlite":
        sqlite = SqliteDeviceRepository(tmp_path / "devices.db")
        yield sqlite
        sqlite.close()
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        async with aioboto3.Session().client("dynamodb", endpoint_url=endpoint, region_name=REGION) as client:
            dynamodb = DynamoDbDeviceRepository(client, f"devices-{new_id('t')}")
            await dynamodb.ensure_table()
            yield dynamodb


async def test_a_device_round_trips_unchanged(repository: DeviceRepository) -> None:
    device = make_device(
        metadata={"serialNumber": "SN-1", "model": "ü-model"},
        last_seen=NOW + timedelta(seconds=5, microseconds=123),
        last_reading=Reading({"temperature": 23.5, "humidity": 45.0}, NOW + timedelta(seconds=5)),
        firmware_version="v2.1.0",
    )
    await repository.add(device)
    assert await repository.get("org-1", device.device_id) == device


async def test_get_is_scoped_to_the_organization(repository: DeviceRepository) -> None:
    device = make_device()
    await repository.add(device)
    assert await repository.get("org-2", device.device_id) is None
    assert await repository.get("org-1", "dev-missing") is None


async def test_serial_numbers_are_unique_per_organization_among_live_devices(repository: DeviceRepository) -> None:
    first = make_device(metadata={"serialNumber": "SN-1"})
    await repository.add(first)
    with pytest.raises(DeviceAlreadyExists) as refused:
        await repository.add(make_device(metadata={"serialNumber": "SN-1"}))
    assert refused.value.existing_device_id == first.device_id
    assert refused.value.details == {"serialNumber": "SN-1", "deviceId": first.device_id}
    await repository.add(make_device(organization_id="org-2", metadata={"serialNumber": "SN-1"}))
    await repository.add(make_device(metadata={}))
    await repository.add(make_device(metadata={}))
    found = await repository.find_by_serial("org-1", "SN-1")
    assert found is not None
    assert found.device_id == first.device_id
    assert await repository.find_by_serial("org-1", "SN-404") is None


async def test_deleting_a_device_frees_its_serial_number(repository: DeviceRepository) -> None:
    first = make_device(metadata={"serialNumber": "SN-1"})
    await repository.add(first)
    await repository.save(replace(first, status=DeviceStatus.DELETED, deleted_at=NOW), previous=first)
    assert await repository.find_by_serial("org-1", "SN-1") is None
    second = make_device(metadata={"serialNumber": "SN-1"})
    await repository.add(second)
    found = await repository.find_by_serial("org-1", "SN-1")
    assert found is not None
    assert found.device_id == second.device_id
    stored = await repository.get("org-1", first.device_id)
    assert stored is not None
    assert stored.status is DeviceStatus.DELETED


async def test_changing_to_a_taken_serial_is_refused_and_changes_nothing(repository: DeviceRepository) -> None:
    holder = make_device(metadata={"serialNumber": "SN-1"})
    other = make_device(metadata={"serialNumber": "SN-2"})
    await repository.add(holder)
    await repository.add(other)
    moved = replace(other, metadata={"serialNumber": "SN-1"}, name="renamed")
    with pytest.raises(DeviceAlreadyExists) as refused:
        await repository.save(moved, previous=other, change=make_change(other, 1))
    assert refused.value.existing_device_id == holder.device_id
    assert await repository.get("org-1", other.device_id) == other
    assert (await repository.list_changes("org-1", other.device_id, PageRequest())).total_items == 0


async def test_changing_the_serial_frees_the_old_one(repository: DeviceRepository) -> None:
    device = make_device(metadata={"serialNumber": "SN-1"})
    await repository.add(device)
    changed = replace(device, metadata={"serialNumber": "SN-9"})
    await repository.save(changed, previous=device)
    await repository.add(make_device(metadata={"serialNumber": "SN-1"}))
    with pytest.raises(DeviceAlreadyExists):
        await repository.add(make_device(metadata={"serialNumber": "SN-9"}))
    removed = replace(changed, metadata={})
    await repository.save(removed, previous=changed)
    await repository.add(make_device(metadata={"serialNumber": "SN-9"}))


async def test_get_many_returns_the_organizations_devices_among_the_ids(repository: DeviceRepository) -> None:
    mine = [make_device() for _ in range(3)]
    theirs = make_device(organization_id="org-2")
    for device in [*mine, theirs]:
        await repository.add(device)
    deleted = replace(mine[2], status=DeviceStatus.DELETED)
    await repository.save(deleted, previous=mine[2])
    asked = [mine[0].device_id, theirs.device_id, "dev-missing", mine[2].device_id, mine[0].device_id]
    found = await repository.get_many("org-1", asked)
    assert sorted(d.device_id for d in found) == sorted([mine[0].device_id, mine[2].device_id])
    assert await repository.get_many("org-1", []) == []


async def test_get_many_handles_more_ids_than_one_batch(repository: DeviceRepository) -> None:
    devices = [make_device() for _ in range(130)]
    for device in devices:
        await repository.add(device)
    found = await repository.get_many("org-1", [d.device_id for d in devices])
    assert len(found) == 130


def query(
    sort_field: SortField = SortField.NAME,
    sort_order: SortOrder = SortOrder.ASC,
    page: PageRequest | None = None,
    **filters: Any,
) -> DeviceQuery:
    return DeviceQuery(DeviceFilters(**filters), sort_field, sort_order, page or PageRequest())


async def seed_for_listing(repository: DeviceRepository) -> dict[str, str]:
    rows = [
        ("alpha", DeviceStatus.ONLINE, "temperature-sensor-v2", "Office 301, Building A", ("office", "floor-3"), 3),
        ("Bravo", DeviceStatus.OFFLINE, "temperature-sensor-v2", "Warehouse 7", ("warehouse",), None),
        ("charlie", DeviceStatus.ONLINE, "humidity-sensor", "office 12, Straße B", ("office",), 1),
        ("delta", DeviceStatus.MAINTENANCE, "temperature-sensor-v2", None, ("office", "floor-3"), 2),
        ("echo", DeviceStatus.REGISTERED, "temperature-sensor-v2", "Office 301, Building A", (), None),
    ]
    ids = {}
    for name, status, device_type, address, tags, seen_minutes in rows:
        device = make_device(
            name=name,
            status=status,
            device_type=device_type,
            location=Location(1.0, 2.0, address),
            tags=tags,
            last_seen=NOW + timedelta(minutes=seen_minutes) if seen_minutes is not None else None,
        )
        await repository.add(device)
        ids[name] = device.device_id
    gone = make_device(name="foxtrot", status=DeviceStatus.ONLINE)
    await repository.add(gone)
    await repository.save(replace(gone, status=DeviceStatus.DELETED), previous=gone)
    await repository.add(make_device(name="golf", organization_id="org-2", status=DeviceStatus.ONLINE))
    return ids


async def names(repository: DeviceRepository, q: DeviceQuery) -> list[str]:
    return [d.name for d in (await repository.list_devices("org-1", q)).items]


async def test_list_filters(repository: DeviceRepository) -> None:
    await seed_for_listing(repository)
    assert await names(repository, query()) == ["alpha", "Bravo", "charlie", "delta", "echo"]
    assert await names(repository, query(status=DeviceStatus.ONLINE)) == ["alpha", "charlie"]
    assert await names(repository, query(device_type="humidity-sensor")) == ["charlie"]
    assert await names(repository, query(location="OFFICE")) == ["alpha", "charlie", "echo"]
    assert await names(repository, query(location="strasse")) == ["charlie"]
    assert await names(repository, query(location="%")) == []
    assert await names(repository, query(tags=("office", "floor-3"))) == ["alpha", "delta"]
    assert await names(repository, query(tags=("office", "missing"))) == []
    combined = query(status=DeviceStatus.ONLINE, device_type="temperature-sensor-v2", tags=("office",))
    assert await names(repository, combined) == ["alpha"]


async def test_list_sorting(repository: DeviceRepository) -> None:
    ids = await seed_for_listing(repository)
    desc = SortOrder.DESC
    assert await names(repository, query(sort_order=desc)) == ["echo", "delta", "charlie", "Bravo", "alpha"]
    by_seen = await names(repository, query(sort_field=SortField.LAST_SEEN))
    assert by_seen[:3] == ["charlie", "delta", "alpha"]
    assert sorted(by_seen[3:]) == ["Bravo", "echo"]
    by_seen_desc = await names(repository, query(sort_field=SortField.LAST_SEEN, sort_order=desc))
    assert by_seen_desc[:3] == ["alpha", "delta", "charlie"]
    assert sorted(by_seen_desc[3:]) == ["Bravo", "echo"]
    # maintenance < offline < online < registered; the two online devices tie and follow their ids.
    by_status = await names(repository, query(sort_field=SortField.STATUS))
    online = sorted([ids["alpha"], ids["charlie"]])
    expected_online = ["alpha" if i == ids["alpha"] else "charlie" for i in online]
    assert by_status == ["delta", "Bravo", *expected_online, "echo"]
    by_status_desc = await names(repository, query(sort_field=SortField.STATUS, sort_order=desc))
    assert by_status_desc == ["echo", *expected_online, "Bravo", "delta"]


async def test_list_pagination_counts_every_match(repository: DeviceRepository) -> None:
    await seed_for_listing(repository)
    first = await repository.list_devices("org-1", query(page=PageRequest(1, 2)))
    assert [d.name for d in first.items] == ["alpha", "Bravo"]
    assert (first.total_items, first.total_pages, first.has_next, first.has_previous) == (5, 3, True, False)
    last = await repository.list_devices("org-1", query(page=PageRequest(3, 2)))
    assert [d.name for d in last.items] == ["echo"]
    assert (last.has_next, last.has_previous) == (False, True)
    beyond = await repository.list_devices("org-1", query(page=PageRequest(4, 2)))
    assert beyond.items == []
    assert beyond.total_items == 5
    filtered = await repository.list_devices("org-1", query(status=DeviceStatus.ONLINE, page=PageRequest(1, 1)))
    assert filtered.total_items == 2


async def test_changes_are_listed_newest_first_per_device(repository: DeviceRepository) -> None:
    device, other = make_device(), make_device()
    await repository.add(device)
    await repository.add(other)
    recorded = [make_change(device, minutes) for minutes in (1, 3, 2)]
    for change in recorded:
        await repository.save(device, previous=device, change=change)
    await repository.save(other, previous=other, change=make_change(other, 9))
    page = await repository.list_changes("org-1", device.device_id, PageRequest(1, 2))
    assert page.items == [recorded[1], recorded[2]]
    assert page.total_items == 3
    second = await repository.list_changes("org-1", device.device_id, PageRequest(2, 2))
    assert second.items == [recorded[0]]
    assert (await repository.list_changes("org-2", device.device_id, PageRequest())).total_items == 0
