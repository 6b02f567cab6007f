"""Extra device types from a JSON file (IOTMON_TELEMETRY_DEVICE_TYPES_FILE); format in docs/telemetry.md."""

from __future__ import annotations

from pathlib import Path

import orjson

from services.telemetry.domain.schemas import DeviceTypes, InvalidDeviceTypes, parse_device_types


def load_device_types(path: Path | None) -> DeviceTypes:
    """The built-in types plus the file's (a type of the same name replaces the built-in one)."""
    types = DeviceTypes()
    if path is None:
        return types
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise InvalidDeviceTypes(f"cannot read device types from {path}: {error}") from None
    try:
        return types.with_types(parse_device_types(document))
    except InvalidDeviceTypes as error:
        raise InvalidDeviceTypes(f"{path}: {error}") from None
