"""Checking one §4.1 record: its shape, its device, its time and each metric against the device type.

Every refusal is a `Rejected(reason, message)`; the pipeline turns it into a Rejection and a dead letter. The
checks run once per record and per metric, so they stay plain type tests, dict lookups and float compares.
Unit conversion happens here, before the range check, because ranges are declared in the type's own unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from services.telemetry.domain.model import DeviceInfo, RejectReason
from services.telemetry.domain.schemas import DeviceType, MetricKind, MetricSpec
from services.telemetry.domain.units import Conversion, conversion

MAX_DEVICE_ID_LENGTH = 128
DAY_MS = 86_400_000


class Rejected(Exception):
    """A record refused for `reason`; raised only on the failure path, so its cost does not matter."""

    def __init__(self, reason: RejectReason, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Limits:
    future_skew_ms: int = 5 * 60_000
    retention_ms: int = 90 * DAY_MS


# The parts of a well-formed record: deviceId, timestamp (ms), data, units, and the whole record as received
# (for its dead letter). A plain tuple: one is made per record, and a tuple costs a fraction of an object.
Fields = tuple[str, int, dict[str, Any], dict[str, str] | None, dict[str, Any]]


def check_shape(payload: Any) -> Fields:
    """deviceId (string), timestamp (epoch ms number), data (non-empty object), optional units (object)."""
    if type(payload) is not dict:
        raise Rejected(RejectReason.INVALID_RECORD, f"a record must be a JSON object, got {json_type(payload)}")
    device_id: Any = payload.get("deviceId")
    timestamp: Any = payload.get("timestamp")
    data: Any = payload.get("data")
    if type(device_id) is not str or not 0 < len(device_id) <= MAX_DEVICE_ID_LENGTH:
        raise Rejected(RejectReason.INVALID_RECORD, f"deviceId: must be a string of 1-{MAX_DEVICE_ID_LENGTH} chars")
    kind = type(timestamp)
    if kind is not int and (kind is not float or not math.isfinite(timestamp)):
        raise Rejected(RejectReason.INVALID_RECORD, "timestamp: must be a number of milliseconds since the epoch")
    if type(data) is not dict or not data:
        raise Rejected(RejectReason.INVALID_RECORD, "data: must be an object with at least one metric")
    units = payload.get("units")
    if units is not None and (type(units) is not dict or not all(type(u) is str for u in units.values())):
        raise Rejected(
            RejectReason.INVALID_RECORD, 'units: must map metric names to unit names, e.g. {"temperature": "F"}'
        )
    return device_id, timestamp if kind is int else int(timestamp), data, units, payload


def check_device(
    device_id: str, device: DeviceInfo | None, required_organization: str | None, topic_device_id: str | None
) -> DeviceInfo:
    """The device the record is for. Another organization's device is reported as unknown: telemetry must
    not reveal that a device id exists elsewhere."""
    if topic_device_id is not None and topic_device_id != device_id:
        raise Rejected(
            RejectReason.TOPIC_MISMATCH,
            f"deviceId {device_id!r} differs from the device {topic_device_id!r} of the topic it was published on",
        )
    if device is None or (required_organization is not None and device.organization_id != required_organization):
        raise Rejected(RejectReason.UNKNOWN_DEVICE, f"no device {device_id!r} is registered")
    if device.deleted:
        raise Rejected(RejectReason.DEVICE_DELETED, f"device {device_id!r} was deleted")
    return device


def check_time(timestamp_ms: int, now_ms: int, limits: Limits) -> None:
    if timestamp_ms > now_ms + limits.future_skew_ms:
        ahead = (timestamp_ms - now_ms) / 1000
        raise Rejected(
            RejectReason.TIMESTAMP_IN_FUTURE,
            f"timestamp {iso(timestamp_ms)} is {ahead:.0f} s ahead of the server clock; "
            f"at most {limits.future_skew_ms // 1000} s are allowed",
        )
    if timestamp_ms < now_ms - limits.retention_ms:
        raise Rejected(
            RejectReason.TIMESTAMP_TOO_OLD,
            f"timestamp {iso(timestamp_ms)} is older than the retention period of {limits.retention_ms // DAY_MS} days",
        )


def check_values(data: dict[str, Any], units: dict[str, str] | None, device_type: DeviceType) -> dict[str, float]:
    """Each metric declared, of its type, converted into its unit and within its range."""
    if units is None:
        values = _plain_values(data, device_type.plain_ranges)
        if values is not None:
            return values
    return _checked_values(data, units, device_type)


def _plain_values(data: dict[str, Any], ranges: Mapping[str, tuple[float, float]]) -> dict[str, float] | None:
    """The fast path for the common record: plain numbers within finite ranges. None as soon as anything is
    not that simple (the full check then decides, and names the reason)."""
    values: dict[str, float] = {}
    for name, value in data.items():
        bounds = ranges.get(name)
        kind = type(value)
        if bounds is None or (kind is not float and kind is not int) or not bounds[0] <= value <= bounds[1]:
            return None
        values[name] = value if kind is float else float(value)
    return values


def _checked_values(data: dict[str, Any], units: dict[str, str] | None, device_type: DeviceType) -> dict[str, float]:
    specs = device_type.metrics
    values: dict[str, float] = {}
    for name, value in data.items():
        spec = specs.get(name)
        if spec is None:
            raise Rejected(
                RejectReason.UNKNOWN_METRIC,
                f"data.{name}: {device_type.name} has no metric {name!r}; it reports {', '.join(specs)}",
            )
        kind = type(value)
        if kind is float:
            number = value
            if number - number != 0.0:  # NaN or ±infinity (typed gRPC records can carry them)
                raise Rejected(RejectReason.INVALID_TYPE, f"data.{name}: must be a finite number, got {value}")
        elif kind is int:
            number = float(value)
        else:
            number = _non_number(spec, value)
        if spec.kind is not MetricKind.NUMBER:
            _check_kind(spec, number)
        if units is not None and name in units:
            number = _unit_conversion(spec, units[name]).apply(number)
        elif spec.wire_unit is not None:
            number = number * spec.wire_conversion.scale + spec.wire_conversion.offset
        if not spec.minimum <= number <= spec.maximum:
            raise _out_of_range(spec, number, value, units)
        values[name] = number
    return values


def check_free_values(data: dict[str, Any]) -> dict[str, float]:
    """A device type without a schema: any finite number per metric, as sent."""
    values: dict[str, float] = {}
    for name, value in data.items():
        kind = type(value)
        if kind is int:
            values[name] = float(value)
        elif kind is float and value - value == 0.0:
            values[name] = value
        else:
            raise Rejected(RejectReason.INVALID_TYPE, f"data.{name}: must be a finite number, got {json_type(value)}")
    return values


def _out_of_range(spec: MetricSpec, number: float, sent: Any, units: dict[str, str] | None) -> Rejected:
    unit = f" {spec.unit}" if spec.unit else ""
    sent_in = (units or {}).get(spec.name) or spec.wire_unit
    converted = f" ({sent} {sent_in} as sent)" if sent_in and sent_in != spec.unit else ""
    return Rejected(
        RejectReason.OUT_OF_RANGE,
        f"data.{spec.name}: {number:g}{unit}{converted} is outside the valid range "
        f"{spec.minimum:g}..{spec.maximum:g}{unit}",
    )


def _non_number(spec: MetricSpec, value: Any) -> float:
    if type(value) is bool and spec.kind is MetricKind.BOOLEAN:
        return 1.0 if value else 0.0
    raise Rejected(RejectReason.INVALID_TYPE, f"data.{spec.name}: must be a {spec.kind.value}, got {json_type(value)}")


def _check_kind(spec: MetricSpec, number: float) -> None:
    if spec.kind is MetricKind.INTEGER and not number.is_integer():
        raise Rejected(RejectReason.INVALID_TYPE, f"data.{spec.name}: must be an integer, got {number:g}")
    if spec.kind is MetricKind.BOOLEAN and number not in (0.0, 1.0):
        raise Rejected(RejectReason.INVALID_TYPE, f"data.{spec.name}: must be true, false, 0 or 1, got {number:g}")


def _unit_conversion(spec: MetricSpec, unit: str) -> Conversion:
    found = _conversion(unit, spec.unit) if spec.unit is not None else None
    if found is None:
        target = spec.unit or "no unit"
        raise Rejected(RejectReason.INVALID_RECORD, f"units.{spec.name}: cannot convert {unit!r} into {target}")
    return found


@lru_cache(maxsize=256)
def _conversion(from_unit: str, to_unit: str) -> Conversion | None:
    return conversion(from_unit, to_unit)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def iso(timestamp_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC, with milliseconds only when there are some."""
    try:
        moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (OverflowError, ValueError, OSError):  # beyond the years datetime can represent
        return f"{timestamp_ms} ms"
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{timestamp_ms % 1000:03d}Z" if timestamp_ms % 1000 else f"{text}Z"
