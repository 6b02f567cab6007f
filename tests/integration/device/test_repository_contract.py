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
from services.device.domain.errors import DeviceAlreadyExists, DeviceChangedConcurrently
from services.device.domain.listing import DeviceFilters, DeviceQuery, SortField, SortOrder
from services.device.domain.model import (
    ActivityLog,
    Device,
    DeviceChange,
    DeviceStatus,
    Location,
    Reading,
    ReadingCounts,
    StatusChange,
)
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


async def saved(
    repository: DeviceRepository, device: Device, previous: Device, change: DeviceChange | None = None
) -> Device:
    """Save and read back: the stored device carries the new revision the next save must start from."""
    await repository.save(device, previous=previous, change=change)
    stored = await repository.get(device.organization_id, device.device_id)
    assert stored is not None
    return stored


async def test_a_device_round_trips_unchanged(repository: DeviceRepository) -> None:
    device = make_device(
        metadata={"serialNumber": "SN-1", "model": "ü-model"},
        last_seen=NOW + timedelta(seconds=5, microseconds=123),
        last_reading=Reading({"temperature": 23.5, "humidity": 45.0}, NOW + timedelta(seconds=5)),
        firmware_version="v2.1.0",
        status=DeviceStatus.ONLINE,
        heartbeat_at=NOW + timedelta(seconds=6),
        activity=ActivityLog(
            status_changes=(StatusChange(NOW, DeviceStatus.ONLINE), StatusChange(NOW, DeviceStatus.OFFLINE)),
            reading_counts=(ReadingCounts(NOW, 97, 3), ReadingCounts(NOW + timedelta(hours=1), 0, 1)),
        ),
    )
    await repository.add(device)
    stored = await repository.get("org-1", device.device_id)
    assert stored == device
    assert stored is not None
    assert stored.revision == 0


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
    changed = await saved(repository, replace(device, metadata={"serialNumber": "SN-9"}), device)
    await repository.add(make_device(metadata={"serialNumber": "SN-1"}))
    with pytest.raises(DeviceAlreadyExists):
        await repository.add(make_device(metadata={"serialNumber": "SN-9"}))
    await repository.save(replace(changed, metadata={}), previous=changed)
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
        device = await saved(repository, device, device, change)
    await repository.save(other, previous=other, change=make_change(other, 9))
    page = await repository.list_changes("org-1", device.device_id, PageRequest(1, 2))
    assert page.items == [recorded[1], recorded[2]]
    assert page.total_items == 3
    second = await repository.list_changes("org-1", device.device_id, PageRequest(2, 2))
    assert second.items == [recorded[0]]
    assert (await repository.list_changes("org-2", device.device_id, PageRequest())).total_items == 0


async def test_a_save_based_on_an_outdated_read_is_refused_and_changes_nothing(repository: DeviceRepository) -> None:
    device = make_device()
    await repository.add(device)
    first = await saved(repository, replace(device, name="first"), device)
    assert first.revision == 1
    with pytest.raises(DeviceChangedConcurrently) as refused:
        await repository.save(replace(device, name="second"), previous=device, change=make_change(device, 1))
    assert refused.value.details == {"deviceId": device.device_id}
    assert await repository.get("org-1", device.device_id) == first
    assert (await repository.list_changes("org-1", device.device_id, PageRequest())).total_items == 0
    second = await saved(repository, replace(first, name="second"), first)
    assert (second.name, second.revision) == ("second", 2)


async def test_devices_are_found_by_id_in_every_organization(repository: DeviceRepository) -> None:
    devices = [make_device(organization_id=f"org-{n % 3}") for n in range(105)]
    for device in devices:
        await repository.add(device)
    gone = devices[7]
    await repository.save(replace(gone, status=DeviceStatus.DELETED), previous=gone)
    asked = [d.device_id for d in devices] + ["dev-missing", devices[0].device_id]
    found = {d.device_id: d for d in await repository.get_many_across_organizations(asked)}
    assert set(found) == {d.device_id for d in devices}
    assert found[devices[4].device_id] == devices[4]
    assert found[gone.device_id].status is DeviceStatus.DELETED
    assert await repository.get_many_across_organizations([]) == []


async def test_states_are_read_and_saved_in_bulk_unless_changed_meanwhile(repository: DeviceRepository) -> None:
    devices = [make_device(organization_id=f"org-{n}", name=f"device-{n}") for n in range(4)]
    for device in devices:
        await repository.add(device)
    stale = devices[2]
    await repository.save(replace(stale, name="renamed meanwhile"), previous=stale)
    states = {s.device_id: s for s in await repository.get_states([d.device_id for d in devices] + ["dev-missing"])}
    assert set(states) == {d.device_id for d in devices}
    assert states[devices[0].device_id] == devices[0].state
    assert states[stale.device_id].revision == 1
    live = {
        "status": DeviceStatus.ONLINE,
        "last_seen": NOW,
        "last_reading": Reading({"temperature": 21.5}, NOW),
        "heartbeat_at": NOW,
        "activity": ActivityLog((StatusChange(NOW, DeviceStatus.ONLINE),), (ReadingCounts(NOW, 3, 1),)),
    }
    updates = [(replace(d.state, **live), d.state) for d in devices]
    assert await repository.save_states(updates) == {stale.device_id}
    for device in devices:
        stored = await repository.get(device.organization_id, device.device_id)
        assert stored is not None
        if device is stale:
            assert (stored.name, stored.status, stored.revision) == ("renamed meanwhile", DeviceStatus.REGISTERED, 1)
        else:
            assert stored == replace(device, **live)
            assert stored.revision == 1
    assert await repository.save_states([]) == set()
    assert await repository.get_states([]) == []


async def test_a_state_save_leaves_what_users_changed_and_a_full_save_keeps_the_state(
    repository: DeviceRepository,
) -> None:
    device = make_device()
    await repository.add(device)
    online = replace(device.state, status=DeviceStatus.ONLINE, last_seen=NOW, heartbeat_at=NOW)
    assert await repository.save_states([(online, device.state)]) == set()
    current = await repository.get("org-1", device.device_id)
    assert current is not None
    renamed = await saved(repository, replace(current, name="renamed"), current)
    assert (renamed.name, renamed.status, renamed.last_seen) == ("renamed", DeviceStatus.ONLINE, NOW)
    assert renamed.revision == 2
    listed = await repository.list_devices("org-1", query(status=DeviceStatus.ONLINE, sort_field=SortField.LAST_SEEN))
    assert listed.items == [renamed]


def heartbeat(device: Device, minutes: int, status: DeviceStatus = DeviceStatus.ONLINE) -> Device:
    return replace(device, status=status, heartbeat_at=NOW + timedelta(minutes=minutes))


async def test_find_silent_answers_online_devices_of_any_organization_oldest_first(
    repository: DeviceRepository,
) -> None:
    rows = [
        ("org-1", DeviceStatus.ONLINE, 3),
        ("org-2", DeviceStatus.ONLINE, 1),
        ("org-3", DeviceStatus.ONLINE, 2),
        ("org-1", DeviceStatus.ONLINE, 10),  # heard from after the cut-off
        ("org-1", DeviceStatus.OFFLINE, 0),
        ("org-2", DeviceStatus.MAINTENANCE, 0),
    ]
    devices = [heartbeat(make_device(organization_id=org), minutes, status) for org, status, minutes in rows]
    for device in devices:
        await repository.add(device)
    cutoff = NOW + timedelta(minutes=5)
    silent = await repository.find_silent(cutoff, limit=10)
    assert [d.device_id for d in silent] == [devices[1].device_id, devices[2].device_id, devices[0].device_id]
    assert silent[0] == devices[1].state
    assert [d.device_id for d in await repository.find_silent(cutoff, limit=2)] == [
        devices[1].device_id,
        devices[2].device_id,
    ]
    # Going offline takes a device out of the answer; a later heartbeat moves it past the cut-off.
    await repository.save(replace(devices[1], status=DeviceStatus.OFFLINE), previous=devices[1])
    await repository.save(heartbeat(devices[2], 20), previous=devices[2])
    assert [d.device_id for d in await repository.find_silent(cutoff, limit=10)] == [devices[0].device_id]
