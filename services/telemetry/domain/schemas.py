"""Device-type schemas: which metrics a type of device reports, with their JSON type, unit and valid range.

The spec's `temperature-sensor-v2` is built in; more types come from a JSON file (docs/telemetry.md shows the
format) that `parse_device_types` reads. A device whose type has no schema is accepted with any finite number
per metric, unconverted and unchecked for range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.telemetry.domain.derived import DERIVED_METRICS
from services.telemetry.domain.units import IDENTITY, Conversion, canonical_unit, conversion, known_units


class MetricKind(StrEnum):
    NUMBER = "number"  # any finite JSON number
    INTEGER = "integer"  # a JSON number without a fractional part
    BOOLEAN = "boolean"  # true/false, or 0/1; stored as 0.0/1.0


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: MetricKind = MetricKind.NUMBER
    unit: str | None = None  # the unit values are stored in (and the range is declared in)
    minimum: float = -math.inf
    maximum: float = math.inf
    # The unit devices of this type send when a record names none; values are converted into `unit`.
    wire_unit: str | None = None
    wire_conversion: Conversion = IDENTITY


@dataclass(frozen=True)
class DeviceType:
    name: str
    metrics: Mapping[str, MetricSpec]
    derived: tuple[str, ...] = ()
    # Metric names the anomaly detector skips: derived ones move with their inputs, already watched.
    derived_names: frozenset[str] = field(init=False)
    # The common case, checked without a function call per metric: numbers sent in the stored unit with a
    # finite range, by name → (minimum, maximum). Anything else takes the full check (validation.py).
    plain_ranges: Mapping[str, tuple[float, float]] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "derived_names", frozenset(self.derived))
        plain = {
            name: (spec.minimum, spec.maximum)
            for name, spec in self.metrics.items()
            if spec.kind is MetricKind.NUMBER
            and spec.wire_unit is None
            and math.isfinite(spec.minimum)
            and math.isfinite(spec.maximum)
        }
        object.__setattr__(self, "plain_ranges", plain)

    @property
    def metric_names(self) -> list[str]:
        """Every metric a reading of this type can hold: declared ones, then derived ones."""
        return [*self.metrics, *self.derived]


class InvalidDeviceTypes(ValueError):
    """The device-type document is malformed; raised at start-up so the file gets fixed."""


def metric(
    name: str,
    unit: str | None = None,
    minimum: float = -math.inf,
    maximum: float = math.inf,
    kind: MetricKind = MetricKind.NUMBER,
    wire_unit: str | None = None,
) -> MetricSpec:
    """A MetricSpec with its wire conversion worked out (and checked)."""
    wire = IDENTITY
    if wire_unit is not None and unit is not None:
        found = conversion(wire_unit, unit)
        if found is None:
            raise InvalidDeviceTypes(f"metric {name!r}: cannot convert wire unit {wire_unit!r} into {unit!r}")
        wire = found
    return MetricSpec(name, kind, unit, float(minimum), float(maximum), wire_unit, wire)


TEMPERATURE_SENSOR_V2 = DeviceType(
    "temperature-sensor-v2",
    {
        "temperature": metric("temperature", "C", -40, 85),
        "humidity": metric("humidity", "%", 0, 100),
        "co2": metric("co2", "ppm", 0, 10_000),
        "battery": metric("battery", "%", 0, 100),
    },
    derived=("dewPoint",),
)
BUILT_IN_TYPES = (TEMPERATURE_SENSOR_V2,)


class DeviceTypes:
    """The registry the pipeline consults: built-in types plus those of the configured file."""

    def __init__(self, types: Iterable[DeviceType] = BUILT_IN_TYPES):
        self._types = {t.name: t for t in types}

    def get(self, name: str) -> DeviceType | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def with_types(self, extra: Iterable[DeviceType]) -> DeviceTypes:
        """A registry where `extra` types are added (and replace a built-in one of the same name)."""
        return DeviceTypes([*self._types.values(), *extra])


def parse_device_types(document: Any) -> list[DeviceType]:
    """Types from a decoded JSON document: {"deviceTypes": [{"name", "metrics": {...}, "derived": [...]}]}."""
    entries = document.get("deviceTypes") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise InvalidDeviceTypes('expected {"deviceTypes": [...]} or a list of device types')
    return [_device_type(entry, index) for index, entry in enumerate(entries)]


def _device_type(entry: Any, index: int) -> DeviceType:
    where = f"deviceTypes[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise InvalidDeviceTypes(f"{where}: needs a non-empty string 'name'")
    metrics = entry.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise InvalidDeviceTypes(f"{where} ({entry['name']}): needs a non-empty 'metrics' object")
    specs = {name: _metric(name, spec, f"{where}.metrics.{name}") for name, spec in metrics.items()}
    derived = entry.get("derived", [])
    if not isinstance(derived, list) or not all(isinstance(d, str) for d in derived):
        raise InvalidDeviceTypes(f"{where}.derived: must be a list of names")
    for name in derived:
        _check_derived(name, specs, f"{where}.derived")
    return DeviceType(entry["name"], specs, tuple(derived))


def _metric(name: str, spec: Any, where: str) -> MetricSpec:
    if not isinstance(spec, dict):
        raise InvalidDeviceTypes(f"{where}: must be an object")
    try:
        kind = MetricKind(spec.get("type", "number"))
    except ValueError:
        raise InvalidDeviceTypes(f"{where}.type: must be number, integer or boolean") from None
    unit, wire_unit = _unit(spec.get("unit"), f"{where}.unit"), _unit(spec.get("wireUnit"), f"{where}.wireUnit")
    if wire_unit is not None and unit is None:
        raise InvalidDeviceTypes(f"{where}: a wireUnit needs a unit to convert into")
    bounds = [spec.get("min", -math.inf), spec.get("max", math.inf)]
    if not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds) or bounds[0] > bounds[1]:
        raise InvalidDeviceTypes(f"{where}: min and max must be numbers with min <= max")
    if kind is MetricKind.BOOLEAN:
        bounds = [0, 1]
    return metric(name, unit, bounds[0], bounds[1], kind, wire_unit)


def _unit(value: Any, where: str) -> str | None:
    if value is None:
        return None
    unit = canonical_unit(value) if isinstance(value, str) else None
    if unit is None:
        raise InvalidDeviceTypes(f"{where}: unknown unit {value!r}; known: {', '.join(known_units())}")
    return unit


def _check_derived(name: str, specs: Mapping[str, MetricSpec], where: str) -> None:
    derived = DERIVED_METRICS.get(name)
    if derived is None:
        raise InvalidDeviceTypes(f"{where}: unknown derived metric {name!r}; known: {', '.join(DERIVED_METRICS)}")
    for input_name, unit in derived.inputs:
        spec = specs.get(input_name)
        if spec is None or spec.unit != unit:
            raise InvalidDeviceTypes(f"{where}: {name} needs metric {input_name!r} declared in {unit}")
