"""Units a metric can be sent in, and the linear conversions between units of one dimension.

Every unit is `scale` and `offset` away from its dimension's base unit (base = value * scale + offset), so a
conversion between any two units of a dimension is one multiply-add: cheap enough for the per-record path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Conversion:
    """to = from * scale + offset."""

    scale: float
    offset: float

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and self.offset == 0.0

    def apply(self, value: float) -> float:
        return value * self.scale + self.offset


IDENTITY = Conversion(1.0, 0.0)

# unit → (dimension, scale, offset) towards the dimension's base unit (the first of each group).
_UNITS: dict[str, tuple[str, float, float]] = {
    "C": ("temperature", 1.0, 0.0),
    "F": ("temperature", 5 / 9, -32 * 5 / 9),
    "K": ("temperature", 1.0, -273.15),
    "%": ("fraction", 1.0, 0.0),
    "ratio": ("fraction", 100.0, 0.0),
    "ppm": ("concentration", 1.0, 0.0),
    "ppb": ("concentration", 0.001, 0.0),
    "hPa": ("pressure", 1.0, 0.0),
    "Pa": ("pressure", 0.01, 0.0),
    "kPa": ("pressure", 10.0, 0.0),
    "bar": ("pressure", 1000.0, 0.0),
    "psi": ("pressure", 68.947572932, 0.0),
    "V": ("voltage", 1.0, 0.0),
    "mV": ("voltage", 0.001, 0.0),
    "dBm": ("signal", 1.0, 0.0),
}
_ALIASES = {
    "°C": "C",
    "celsius": "C",
    "°F": "F",
    "fahrenheit": "F",
    "kelvin": "K",
    "percent": "%",
    "pct": "%",
}


def canonical_unit(unit: str) -> str | None:
    """The unit's canonical spelling ("°F" → "F"), or None when it is not a unit we know."""
    name = _ALIASES.get(unit, _ALIASES.get(unit.lower(), unit))
    return name if name in _UNITS else None


def known_units() -> list[str]:
    return list(_UNITS)


def conversion(from_unit: str, to_unit: str) -> Conversion | None:
    """How to turn a value in `from_unit` into `to_unit`; None when either is unknown or they measure
    different things (°F into %)."""
    source, target = canonical_unit(from_unit), canonical_unit(to_unit)
    if source is None or target is None:
        return None
    if source == target:
        return IDENTITY
    source_dimension, source_scale, source_offset = _UNITS[source]
    target_dimension, target_scale, target_offset = _UNITS[target]
    if source_dimension != target_dimension:
        return None
    return Conversion(source_scale / target_scale, (source_offset - target_offset) / target_scale)
