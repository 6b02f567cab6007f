"""Field rules for device data (spec §3.1, §12.1); every problem is reported by its JSON path at once."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence

from services.device.domain.commands import ConnectivityInput
from services.device.domain.errors import InvalidDeviceData
from services.device.domain.model import SERIAL_NUMBER_KEY, Connectivity, ConnectivityType, Location
from services.kernel import errors as kernel_errors

NAME_LENGTH = (3, 100)
MAX_ADDRESS_LENGTH = 200
MAX_TAGS = 50
MAX_METADATA_KEYS = 50
MAX_METADATA_VALUE_LENGTH = 256
MAX_SERIAL_NUMBER_LENGTH = 128
MAX_SIM_ID_LENGTH = 64
SIGNAL_STRENGTH_RANGE = (-200, 0)
MAX_DEVICE_TYPE_LENGTH = 64

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
TAG = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
METADATA_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class Violations(kernel_errors.Violations):
    """Field problems of a device request, raised together as one InvalidDeviceData."""

    error_type = InvalidDeviceData


def check_name(value: str, problems: Violations, field: str = "name") -> str:
    name = value.strip()
    low, high = NAME_LENGTH
    if not low <= len(name) <= high:
        problems.add(field, f"must be {low}-{high} characters, got {len(name)}")
    return name


def check_device_type(value: str, problems: Violations, field: str = "deviceType") -> str:
    device_type = value.strip()
    if not device_type:
        problems.add(field, "is required")
    elif len(device_type) > MAX_DEVICE_TYPE_LENGTH or not SLUG.fullmatch(device_type):
        problems.add(field, "must be a slug of lower-case letters, digits and dashes, e.g. temperature-sensor-v2")
    return device_type


def check_location(location: Location, problems: Violations, prefix: str = "location") -> Location:
    for axis, value, limit in (("lat", location.lat, 90), ("lon", location.lon, 180)):
        if math.isnan(value):
            problems.add(f"{prefix}.{axis}", "is required when a location is given")
        elif not (math.isfinite(value) and -limit <= value <= limit):
            problems.add(f"{prefix}.{axis}", f"must be between -{limit} and {limit}, got {value}")
    address = location.address.strip() if location.address is not None else None
    if address is not None and len(address) > MAX_ADDRESS_LENGTH:
        problems.add(f"{prefix}.address", f"must be at most {MAX_ADDRESS_LENGTH} characters")
    return Location(location.lat, location.lon, address or None)


def check_connectivity(value: ConnectivityInput, problems: Violations) -> Connectivity | None:
    allowed = ", ".join(t.value for t in ConnectivityType)
    try:
        kind = ConnectivityType(value.type.strip().lower())
    except ValueError:
        problems.add("connectivity.type", f"must be one of {allowed}, got {value.type!r}")
        kind = None
    sim_id = value.sim_id.strip() if value.sim_id is not None else None
    if sim_id is not None and not 1 <= len(sim_id) <= MAX_SIM_ID_LENGTH:
        problems.add("connectivity.simId", f"must be 1-{MAX_SIM_ID_LENGTH} characters")
    low, high = SIGNAL_STRENGTH_RANGE
    if value.signal_strength is not None and not low <= value.signal_strength <= high:
        problems.add("connectivity.signalStrength", f"must be between {low} and {high} dBm")
    if value.ip_address is not None and not _is_ip_address(value.ip_address):
        problems.add("connectivity.ipAddress", "must be an IPv4 or IPv6 address")
    if kind is None:
        return None
    return Connectivity(kind, sim_id, value.signal_strength, value.ip_address)


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def check_metadata(raw: Mapping[str, object], problems: Violations) -> dict[str, str]:
    if len(raw) > MAX_METADATA_KEYS:
        problems.add("metadata", f"must have at most {MAX_METADATA_KEYS} keys, got {len(raw)}")
    metadata: dict[str, str] = {}
    for key, value in raw.items():
        field = f"metadata.{key}"
        if not METADATA_KEY.fullmatch(key):
            problems.add(field, "keys must be 1-64 characters of letters, digits, _ . : -")
        elif not isinstance(value, str):
            problems.add(field, "must be a string")
        elif len(value) > MAX_METADATA_VALUE_LENGTH:
            problems.add(field, f"must be at most {MAX_METADATA_VALUE_LENGTH} characters")
        else:
            metadata[key] = value
    serial = metadata.get(SERIAL_NUMBER_KEY)
    if serial is not None:
        metadata[SERIAL_NUMBER_KEY] = serial = serial.strip()
        if not 1 <= len(serial) <= MAX_SERIAL_NUMBER_LENGTH:
            problems.add(f"metadata.{SERIAL_NUMBER_KEY}", f"must be 1-{MAX_SERIAL_NUMBER_LENGTH} characters")
    return metadata


def check_tags(raw: Sequence[object], problems: Violations, field: str = "tags") -> tuple[str, ...]:
    """Tags keep their first-seen order; duplicates are dropped."""
    if len(raw) > MAX_TAGS:
        problems.add(field, f"must have at most {MAX_TAGS} tags, got {len(raw)}")
    tags: dict[str, None] = {}
    for index, tag in enumerate(raw):
        if not isinstance(tag, str):
            problems.add(f"{field}[{index}]", "must be a string")
        elif not TAG.fullmatch(tag):
            problems.add(f"{field}[{index}]", "must be 1-64 characters of letters, digits, _ . : -")
        else:
            tags[tag] = None
    return tuple(tags)


def check_number(value: object, problems: Violations, field: str) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.add(field, "must be a finite number")
        return None
    return float(value)
