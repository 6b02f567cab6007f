"""The catalog use cases and the processor, on in-memory ports."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

import pytest

from services.firmware.adapters.catalog_memory import InMemoryFirmwareStore
from services.firmware.domain.catalog.errors import FirmwareNotFound, FirmwareVersionExists, InvalidFirmware
from services.firmware.domain.catalog.firmware import FirmwareStatus
from services.firmware.domain.catalog.image import pack
from services.firmware.domain.catalog.objects import ScanVerdict
from services.firmware.domain.catalog.processing import FirmwareProcessor, Outcome, ProcessingPolicy
from services.firmware.domain.catalog.service import CatalogService, UploadLimits
from services.firmware.domain.catalog.validation import UploadFirmware
from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied
from tests.unit.firmware_catalog.builders import T0
from tests.unit.firmware_catalog.fakes import FakeObjects, FakeScanner, FixedClock, RecordedEvents

ADMIN = Caller("user-admin", "org-1", Role.ADMIN)
IMAGE = pack("v2.1.0", ("temp-sensor", "gateway"), b"payload" * 500)


class Fixture:
    def __init__(self, scanner: FakeScanner | None = None, max_bytes: int = 100_000) -> None:
        self.store = InMemoryFirmwareStore()
        self.objects = FakeObjects()
        self.events = RecordedEvents()
        self.clock = FixedClock(T0)
        self.catalog = CatalogService(self.store, self.objects, UploadLimits(max_bytes, 900), self.clock)
        self.processor = FirmwareProcessor(
            self.store, self.objects, self.events, ProcessingPolicy(max_bytes), scanner=scanner, clock=self.clock
        )

    async def pending(self, version: str = "v2.1.0", types: tuple[str, ...] = ("temp-sensor",)) -> str:
        ticket = await self.catalog.request_upload(ADMIN, UploadFirmware(version, types))
        return ticket.firmware.object_key


async def test_only_admins_upload_and_a_version_is_uploaded_once() -> None:
    f = Fixture()
    for role in (Role.VIEWER, Role.OPERATOR):
        with pytest.raises(PermissionDenied):
            await f.catalog.request_upload(Caller("u", "org-1", role), UploadFirmware("v1.0.0", ("a",)))
    ticket = await f.catalog.request_upload(ADMIN, UploadFirmware("v1.0.0", ("a",), "notes"))
    assert ticket.firmware.status is FirmwareStatus.PENDING_UPLOAD
    assert ticket.target.fields["key"] == f"firmware/{ticket.firmware.firmware_id}.bin"
    assert ticket.target.fields["max"] == "100000"
    assert ticket.target.fields["organization-id"] == "org-1"
    with pytest.raises(FirmwareVersionExists):
        await f.catalog.request_upload(ADMIN, UploadFirmware("v1.0.0", ("b",)))
    with pytest.raises(InvalidFirmware):
        await f.catalog.request_upload(ADMIN, UploadFirmware("one", ("a",)))
    assert (await f.catalog.get_firmware(ADMIN, ticket.firmware.firmware_id)).release_notes == "notes"
    with pytest.raises(FirmwareNotFound):
        await f.catalog.get_firmware(Caller("u", "org-2", Role.ADMIN), ticket.firmware.firmware_id)


async def test_a_good_image_is_validated_with_checksum_size_and_an_event() -> None:
    f = Fixture()
    key = await f.pending()
    f.objects.objects[key] = IMAGE
    result = await f.processor.on_object_created(key, T0)
    assert result.outcome is Outcome.VALIDATED
    firmware = await f.store.find_by_object_key(key)
    assert firmware is not None
    assert firmware.status is FirmwareStatus.VALIDATED
    assert (firmware.checksum, firmware.size) == (hashlib.sha256(IMAGE).hexdigest(), len(IMAGE))
    assert firmware.validated_at == T0
    assert f.events.validated_events == [firmware]


async def test_the_same_object_announced_twice_is_processed_once() -> None:
    f = Fixture()
    key = await f.pending()
    f.objects.objects[key] = IMAGE
    first = await f.processor.on_object_created(key, T0)
    second = await f.processor.on_object_created(key, T0)
    assert (first.outcome, second.outcome) == (Outcome.VALIDATED, Outcome.ALREADY_PROCESSED)
    assert f.objects.reads == 1
    assert len(f.events.validated_events) == 1


async def test_a_changed_header_byte_rejects_with_a_reason() -> None:
    f = Fixture()
    key = await f.pending()
    damaged = bytearray(IMAGE)
    damaged[55] ^= 0x01
    f.objects.objects[key] = bytes(damaged)
    result = await f.processor.on_object_created(key, T0)
    assert result.outcome is Outcome.REJECTED
    assert result.firmware is not None
    assert result.firmware.rejection_reason is not None
    assert result.firmware.rejection_reason.startswith("HEADER_CORRUPT")
    assert f.events.validated_events[0].status is FirmwareStatus.REJECTED


async def test_metadata_mismatch_and_oversize_are_rejected() -> None:
    f = Fixture(max_bytes=len(IMAGE) - 1)
    too_big = await f.pending()
    f.objects.objects[too_big] = IMAGE
    rejected = (await f.processor.on_object_created(too_big)).firmware
    assert rejected is not None
    assert rejected.rejection_reason is not None
    assert rejected.rejection_reason.startswith("TOO_LARGE")
    f2 = Fixture()
    key = await f2.pending("v2.2.0")
    f2.objects.objects[key] = IMAGE
    mismatch = (await f2.processor.on_object_created(key)).firmware
    assert mismatch is not None
    assert mismatch.rejection_reason is not None
    assert mismatch.rejection_reason.startswith("VERSION_MISMATCH")


async def test_unknown_keys_and_uploads_after_expiry_are_ignored() -> None:
    f = Fixture()
    assert (await f.processor.on_object_created("firmware/fw-nobody.bin")).outcome is Outcome.UNKNOWN_KEY
    key = await f.pending()
    f.objects.objects[key] = IMAGE
    late = await f.processor.on_object_created(key, T0 + timedelta(hours=1))
    assert late.outcome is Outcome.EXPIRED
    assert f.objects.reads == 0
    assert f.events.validated_events == []


async def test_a_failed_read_hands_the_record_back_for_the_redelivery() -> None:
    f = Fixture()
    key = await f.pending()
    f.objects.objects[key] = IMAGE
    f.objects.fail_reads = True
    with pytest.raises(OSError, match="disk went away"):
        await f.processor.on_object_created(key, T0)
    stored = await f.store.find_by_object_key(key)
    assert stored is not None
    assert stored.status is FirmwareStatus.PENDING_UPLOAD
    f.objects.fail_reads = False
    assert (await f.processor.on_object_created(key, T0)).outcome is Outcome.VALIDATED


async def test_a_record_left_processing_by_a_dead_processor_is_taken_over_when_stale() -> None:
    f = Fixture()
    key = await f.pending()
    f.objects.objects[key] = IMAGE
    stored = await f.store.find_by_object_key(key)
    assert stored is not None
    stuck = replace(stored, status=FirmwareStatus.PROCESSING, processing_started_at=T0)
    assert await f.store.replace(stuck, expected=stored)
    f.clock.at = T0 + timedelta(minutes=5)
    assert (await f.processor.on_object_created(key, T0)).outcome is Outcome.ALREADY_PROCESSED
    f.clock.at = T0 + timedelta(minutes=11)
    assert (await f.processor.on_object_created(key, T0)).outcome is Outcome.VALIDATED


async def test_the_scanner_sees_the_whole_image_and_its_finding_rejects() -> None:
    clean = FakeScanner(ScanVerdict(clean=True))
    f = Fixture(scanner=clean)
    key = await f.pending()
    f.objects.objects[key] = IMAGE
    assert (await f.processor.on_object_created(key)).outcome is Outcome.VALIDATED
    assert clean.scanned == IMAGE
    infected = Fixture(scanner=FakeScanner(ScanVerdict(clean=False, signature="Eicar-Signature")))
    key = await infected.pending()
    infected.objects.objects[key] = IMAGE
    result = (await infected.processor.on_object_created(key)).firmware
    assert result is not None
    assert result.rejection_reason == "MALWARE_FOUND: the virus scanner found Eicar-Signature"
