"""A successful firmware job sets the device's firmwareVersion: once, in report order, never on unknown devices."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from services.device.adapters.memory import InMemoryDeviceRepository
from services.device.domain.firmware import (
    FIRMWARE_ACTOR,
    FirmwareInstalled,
    FirmwareInstalls,
    install_firmware,
)
from services.device.domain.model import DeviceStatus
from services.kernel.pagination import PageRequest
from tests.unit.device.builders import NOW, make_device
from tests.unit.device.fakes import ConcurrentWriterRepository, RecordingEvents, SteppingClock


def installed(device_id: str, version: str, minutes: int = 0, org: str = "org-1") -> FirmwareInstalled:
    return FirmwareInstalled(org, device_id, version, NOW + timedelta(minutes=minutes))


def test_a_newer_report_sets_version_install_time_and_updated_at() -> None:
    device = make_device(firmware_version="v1.0.0")
    later = NOW + timedelta(hours=1)
    updated = install_firmware(device, installed(device.device_id, "v2.1.0", 5), later)
    assert updated is not None
    assert (updated.firmware_version, updated.firmware_installed_at, updated.updated_at) == (
        "v2.1.0",
        NOW + timedelta(minutes=5),
        later,
    )


def test_an_older_or_equal_report_changes_nothing() -> None:
    device = make_device(firmware_version="v2.1.0", firmware_installed_at=NOW + timedelta(minutes=5))
    assert install_firmware(device, installed(device.device_id, "v1.0.0", 4), NOW) is None
    assert install_firmware(device, installed(device.device_id, "v1.0.0", 5), NOW) is None


def test_a_deleted_device_or_an_empty_version_changes_nothing() -> None:
    deleted = make_device(status=DeviceStatus.DELETED, deleted_at=NOW)
    assert install_firmware(deleted, installed(deleted.device_id, "v2"), NOW) is None
    device = make_device()
    assert install_firmware(device, installed(device.device_id, ""), NOW) is None


def test_reinstalling_the_shown_version_only_moves_the_install_time() -> None:
    device = make_device(firmware_version="v2", firmware_installed_at=NOW)
    updated = install_firmware(device, installed(device.device_id, "v2", 3), NOW + timedelta(hours=1))
    assert updated is not None
    assert updated.firmware_installed_at == NOW + timedelta(minutes=3)
    assert updated.updated_at == device.updated_at


async def test_the_use_case_saves_records_the_change_and_publishes_device_updated() -> None:
    repository, events = InMemoryDeviceRepository(), RecordingEvents()
    device = make_device(firmware_version="v1.0.0")
    await repository.add(device)
    installs = FirmwareInstalls(repository, events, SteppingClock())

    saved = await installs.record_firmware_installed(installed(device.device_id, "v2.1.0", 1))

    stored = await repository.get("org-1", device.device_id)
    assert stored is not None
    assert saved == stored
    assert stored.firmware_version == "v2.1.0"
    [(kind, device_id, change)] = events.published
    assert (kind, device_id) == ("updated", device.device_id)
    changes = await repository.list_changes("org-1", device.device_id, PageRequest.parse(None, None))
    [recorded] = changes.items
    assert recorded == change
    assert recorded.changed_by == FIRMWARE_ACTOR
    assert [(c.field, c.old_value, c.new_value) for c in recorded.changes] == [("firmwareVersion", "v1.0.0", "v2.1.0")]


async def test_redelivery_and_late_older_reports_are_harmless() -> None:
    repository, events = InMemoryDeviceRepository(), RecordingEvents()
    device = make_device()
    await repository.add(device)
    installs = FirmwareInstalls(repository, events, SteppingClock())

    await installs.record_firmware_installed(installed(device.device_id, "v2", 10))
    assert await installs.record_firmware_installed(installed(device.device_id, "v2", 10)) is None
    assert await installs.record_firmware_installed(installed(device.device_id, "v1", 2)) is None

    stored = await repository.get("org-1", device.device_id)
    assert stored is not None
    assert stored.firmware_version == "v2"
    assert events.kinds() == ["updated"]


async def test_unknown_devices_and_other_organizations_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="iotmon.device")
    repository, events = InMemoryDeviceRepository(), RecordingEvents()
    device = make_device()
    await repository.add(device)
    installs = FirmwareInstalls(repository, events, SteppingClock())

    assert await installs.record_firmware_installed(installed("dev-missing", "v2")) is None
    assert await installs.record_firmware_installed(installed(device.device_id, "v2", org="org-2")) is None

    stored = await repository.get("org-1", device.device_id)
    assert stored is not None
    assert stored.firmware_version is None
    assert events.published == []
    assert "unknown device" in caplog.text


async def test_a_concurrent_write_is_retried_on_the_fresh_device() -> None:
    repository, events = ConcurrentWriterRepository(), RecordingEvents()
    device = make_device()
    await repository.add(device)
    installs = FirmwareInstalls(repository, events, SteppingClock())

    saved = await installs.record_firmware_installed(installed(device.device_id, "v3"))

    assert saved is not None
    assert repository.interfered == [device.device_id]
    stored = await repository.get("org-1", device.device_id)
    assert stored is not None
    assert stored.firmware_version == "v3"
