"""One contract for every FirmwareStore: memory, SQLite and PostgreSQL (parametrized in conftest.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from services.firmware.domain.catalog.firmware import FirmwareStatus
from services.firmware.domain.catalog.listing import FirmwareFilter
from services.firmware.ports import FirmwareStore
from services.kernel.pagination import PageRequest
from tests.unit.firmware_catalog.builders import T0, a_firmware


async def test_a_record_round_trips_with_every_field(store: FirmwareStore) -> None:
    firmware = a_firmware(
        status=FirmwareStatus.VALIDATED,
        checksum="ab" * 32,
        size=123_456,
        validated_at=T0 + timedelta(seconds=3),
        processing_started_at=T0 + timedelta(seconds=1),
    )
    assert await store.add_unless_version_taken(firmware, T0)
    assert await store.get("org-1", "fw-1") == firmware
    assert await store.get("org-2", "fw-1") is None, "another organization's firmware is invisible"
    assert await store.find_by_object_key("firmware/fw-1.bin") == firmware
    assert await store.find_by_object_key("firmware/fw-none.bin") is None


async def test_a_version_is_taken_until_its_record_is_rejected_or_its_upload_expires(store: FirmwareStore) -> None:
    first = a_firmware(firmware_id="fw-1")
    assert await store.add_unless_version_taken(first, T0)
    second = a_firmware(firmware_id="fw-2")
    assert not await store.add_unless_version_taken(second, T0 + timedelta(minutes=1))
    assert await store.add_unless_version_taken(a_firmware(firmware_id="fw-3", org_id="org-2"), T0), "per organization"
    # The pending upload's window closes: the version is free again.
    second = replace(second, upload_expires_at=T0 + timedelta(hours=2))
    assert await store.add_unless_version_taken(second, T0 + timedelta(minutes=16))
    assert not await store.add_unless_version_taken(a_firmware(firmware_id="fw-4"), T0 + timedelta(hours=1))
    assert await store.replace(
        replace(second, status=FirmwareStatus.REJECTED, rejection_reason="BAD_MAGIC: x"), expected=second
    )
    assert await store.add_unless_version_taken(a_firmware(firmware_id="fw-4"), T0 + timedelta(hours=1))


async def test_concurrent_uploads_of_one_version_store_one(store: FirmwareStore) -> None:
    results = await asyncio.gather(
        *(store.add_unless_version_taken(a_firmware(firmware_id=f"fw-{i}"), T0) for i in range(5))
    )
    assert sorted(results) == [False, False, False, False, True]


async def test_replace_is_a_compare_and_set_on_status_and_processing_start(store: FirmwareStore) -> None:
    pending = a_firmware()
    await store.add_unless_version_taken(pending, T0)
    taken = replace(pending, status=FirmwareStatus.PROCESSING, processing_started_at=T0 + timedelta(seconds=1))
    assert await store.replace(taken, expected=pending)
    assert not await store.replace(taken, expected=pending), "a second taker finds it changed"
    stale_takeover = replace(taken, processing_started_at=T0 + timedelta(minutes=30))
    assert not await store.replace(stale_takeover, expected=replace(taken, processing_started_at=T0))
    assert await store.replace(stale_takeover, expected=taken)
    done = replace(stale_takeover, status=FirmwareStatus.VALIDATED, checksum="cd" * 32, size=10, validated_at=T0)
    assert await store.replace(done, expected=stale_takeover)
    assert await store.get("org-1", "fw-1") == done


async def test_find_version_is_the_latest_validated_record_of_the_version(store: FirmwareStore) -> None:
    rejected = a_firmware(firmware_id="fw-a", status=FirmwareStatus.REJECTED, rejection_reason="TRUNCATED: x")
    validated = a_firmware(firmware_id="fw-b", status=FirmwareStatus.VALIDATED, created_at=T0 + timedelta(minutes=1))
    await store.add_unless_version_taken(rejected, T0)
    await store.add_unless_version_taken(validated, T0 + timedelta(minutes=1))
    assert await store.find_version("org-1", "v2.1.0") == validated
    assert await store.find_version("org-1", "v9.9.9") is None
    assert await store.find_version("org-2", "v2.1.0") is None


async def test_list_filters_by_device_type_and_status_and_pages_newest_first(store: FirmwareStore) -> None:
    for i in range(5):
        status = FirmwareStatus.VALIDATED if i % 2 == 0 else FirmwareStatus.REJECTED
        types = ("temp-sensor",) if i < 3 else ("camera",)
        firmware = a_firmware(
            firmware_id=f"fw-{i}",
            version=f"v1.0.{i}",
            device_types=types,
            status=status,
            created_at=T0 + timedelta(minutes=i),
        )
        await store.add_unless_version_taken(firmware, T0)
    await store.add_unless_version_taken(a_firmware(firmware_id="fw-x", org_id="org-2"), T0)
    everything = await store.list("org-1", FirmwareFilter(), PageRequest(1, 2))
    assert [f.firmware_id for f in everything.items] == ["fw-4", "fw-3"]
    assert everything.total_items == 5
    assert everything.has_next
    cameras = await store.list("org-1", FirmwareFilter(device_type="camera"), PageRequest())
    assert [f.firmware_id for f in cameras.items] == ["fw-4", "fw-3"]
    validated_sensors = await store.list(
        "org-1", FirmwareFilter(device_type="temp-sensor", status=FirmwareStatus.VALIDATED), PageRequest()
    )
    assert [f.firmware_id for f in validated_sensors.items] == ["fw-2", "fw-0"]
    assert (await store.list("org-1", FirmwareFilter(device_type="temp"), PageRequest())).total_items == 0
