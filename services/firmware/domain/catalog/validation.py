"""The metadata an upload declares (§3.4.1), checked before any upload target is handed out."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.firmware.domain.catalog.errors import FirmwareViolations
from services.firmware.domain.catalog.image import MAX_DEVICE_TYPES, MAX_TEXT_BYTES

# Semantic versioning, with the optional "v" the spec writes ("v2.1.0").
VERSION = re.compile(
    r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
# Device types are slugs, as the device service accepts them (sensor, temp-sensor-v2).
DEVICE_TYPE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
FILE_NAME = re.compile(r"[A-Za-z0-9._ -]{1,255}")
MAX_NOTES = 5000


@dataclass(frozen=True)
class UploadFirmware:
    """The §3.4.1 input, as the client sent it."""

    version: str
    device_types: tuple[str, ...]
    release_notes: str = ""
    file_name: str | None = None


@dataclass(frozen=True)
class FirmwareMetadata:
    version: str
    device_types: tuple[str, ...]
    release_notes: str
    file_name: str | None


def validate_upload(command: UploadFirmware) -> FirmwareMetadata:
    """Every problem at once, each naming its field; raises InvalidFirmware (400)."""
    v = FirmwareViolations()
    version = command.version.strip()
    if not version:
        v.add("version", "is required")
    elif len(version.encode()) > MAX_TEXT_BYTES or not VERSION.fullmatch(version):
        v.add("version", f"must be a semantic version such as v2.1.0 (at most {MAX_TEXT_BYTES} bytes), got {version!r}")
    types: list[str] = []
    if not command.device_types:
        v.add("deviceTypes", "name at least one compatible device type")
    elif len(command.device_types) > MAX_DEVICE_TYPES:
        v.add("deviceTypes", f"at most {MAX_DEVICE_TYPES} device types, got {len(command.device_types)}")
    for index, raw in enumerate(command.device_types):
        device_type = raw.strip()
        if len(device_type) > MAX_TEXT_BYTES or not DEVICE_TYPE.fullmatch(device_type):
            v.add(f"deviceTypes[{index}]", f"must be a lowercase slug such as temp-sensor, got {raw!r}")
        elif device_type in types:
            v.add(f"deviceTypes[{index}]", f"{device_type!r} is listed twice")
        else:
            types.append(device_type)
    notes = command.release_notes.strip()
    if len(notes) > MAX_NOTES:
        v.add("releaseNotes", f"at most {MAX_NOTES} characters, got {len(notes)}")
    file_name = command.file_name.strip() if command.file_name is not None else None
    if file_name is not None and not FILE_NAME.fullmatch(file_name):
        v.add("fileName", "1 to 255 letters, digits, spaces, dots, dashes or underscores")
    v.raise_if_any()
    return FirmwareMetadata(version, tuple(types), notes, file_name or None)
