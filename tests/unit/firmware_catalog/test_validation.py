"""Upload metadata (§3.4.1): each problem is a 400 naming its field."""

from __future__ import annotations

import pytest

from services.firmware.domain.catalog.errors import InvalidFirmware
from services.firmware.domain.catalog.firmware import FirmwareStatus
from services.firmware.domain.catalog.listing import ListFirmware, parse_firmware_query
from services.firmware.domain.catalog.validation import UploadFirmware, validate_upload


def fields_of(command: UploadFirmware) -> list[str]:
    with pytest.raises(InvalidFirmware) as invalid:
        validate_upload(command)
    return [v.field for v in invalid.value.violations]


@pytest.mark.parametrize("version", ["v2.1.0", "2.1.0", "1.0.0-rc.1", "10.20.30+build.5"])
def test_semantic_versions_are_accepted(version: str) -> None:
    assert validate_upload(UploadFirmware(version, ("temp-sensor",))).version == version


@pytest.mark.parametrize("version", ["", "2.1", "v2.1.0.4", "latest", "v01.2.3", "v1.2.3 ; rm"])
def test_other_versions_are_refused(version: str) -> None:
    assert fields_of(UploadFirmware(version, ("temp-sensor",))) == ["version"]


def test_device_types_are_one_or_more_distinct_slugs() -> None:
    assert fields_of(UploadFirmware("v1.0.0", ())) == ["deviceTypes"]
    assert fields_of(UploadFirmware("v1.0.0", ("ok", "Not Slug", "ok"))) == ["deviceTypes[1]", "deviceTypes[2]"]
    assert fields_of(UploadFirmware("v1.0.0", tuple(f"t{i}" for i in range(33)))) == ["deviceTypes"]
    assert validate_upload(UploadFirmware("v1.0.0", (" sensor ",))).device_types == ("sensor",)


def test_every_bad_field_is_named_at_once() -> None:
    command = UploadFirmware("nope", (), release_notes="x" * 5001, file_name="../../etc/passwd")
    assert fields_of(command) == ["version", "deviceTypes", "releaseNotes", "fileName"]


def test_list_filters_are_checked() -> None:
    query, page = parse_firmware_query(ListFirmware(device_type="sensor", status="VALIDATED", page=2, page_size=5))
    assert (query.device_type, query.status, page.page, page.page_size) == ("sensor", FirmwareStatus.VALIDATED, 2, 5)
    with pytest.raises(InvalidFirmware) as invalid:
        parse_firmware_query(ListFirmware(status="done"))
    assert invalid.value.violations[0].field == "status"
