"""Derived metrics: values computed from a reading's measured ones and stored beside them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# Magnus formula coefficients (Sonntag 1990), good to ±0.35 °C for −45..60 °C.
MAGNUS_B = 17.62
MAGNUS_C = 243.12


def dew_point(temperature_c: float, relative_humidity: float) -> float | None:
    """The dew point in °C from air temperature (°C) and relative humidity (%), by the Magnus formula.

    None for a humidity of 0 % or less, where the formula has no value (the logarithm of zero).
    """
    if relative_humidity <= 0.0:
        return None
    gamma = math.log(relative_humidity / 100.0) + MAGNUS_B * temperature_c / (MAGNUS_C + temperature_c)
    return MAGNUS_C * gamma / (MAGNUS_B - gamma)


@dataclass(frozen=True)
class DerivedMetric:
    name: str
    # The measured metrics it needs, each in the unit the formula expects.
    inputs: tuple[tuple[str, str], ...]
    compute: Callable[[float, float], float | None]
    unit: str


DEW_POINT = DerivedMetric("dewPoint", (("temperature", "C"), ("humidity", "%")), dew_point, "C")
DERIVED_METRICS: dict[str, DerivedMetric] = {DEW_POINT.name: DEW_POINT}


def add_derived(values: dict[str, float], names: tuple[str, ...]) -> None:
    """Add each derived metric whose inputs the reading has (values are already in the formulas' units)."""
    for name in names:
        derived = DERIVED_METRICS[name]
        (first, _), (second, _) = derived.inputs
        if first in values and second in values:
            result = derived.compute(values[first], values[second])
            if result is not None:
                values[name] = result
