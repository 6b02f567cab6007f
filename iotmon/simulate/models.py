"""How a simulated temperature-sensor-v2 behaves: per-device profiles and the shapes they follow over time.

Everything that does not change per reading is computed once: the daily temperature cycle (one value per
minute of the day), the CO2 level that follows office occupancy (one value per minute of the week, already
smoothed so that CO2 rises slowly after people arrive and decays after they leave), and each device's
profile. A reading then costs a few table look-ups, three Gaussian draws and some arithmetic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

DEVICE_TYPE = "temperature-sensor-v2"
SUPPORTED_DEVICE_TYPES = (DEVICE_TYPE,)

# The valid ranges the platform registers for temperature-sensor-v2 (°C, %, ppm, %): values never leave them.
RANGES: dict[str, tuple[float, float]] = {
    "temperature": (-40.0, 85.0),
    "humidity": (0.0, 100.0),
    "co2": (0.0, 10_000.0),
    "battery": (0.0, 100.0),
}

MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
# 1970-01-01 was a Thursday: shifting epoch minutes by three days makes index 0 Monday 00:00.
MONDAY_SHIFT_MINUTES = 3 * MINUTES_PER_DAY
WARMEST_HOUR = 15.0
OUTDOOR_CO2_PPM = 420.0
# A battery is replaced (back to 100 %) when it runs this low, so long runs keep producing readings.
BATTERY_REPLACED_BELOW = 5.0


def _daily_cycle() -> tuple[float, ...]:
    """+1 at the warmest hour of the local day, −1 twelve hours later."""
    return tuple(math.cos(2 * math.pi * (minute / 60 - WARMEST_HOUR) / 24) for minute in range(MINUTES_PER_DAY))


def _occupancy(minute_of_week: int) -> float:
    """Share of an office's people present: weekdays 8-18 with a lunch dip, a few on weekend middays."""
    day, minute = divmod(minute_of_week, MINUTES_PER_DAY)
    hour = minute / 60
    if day >= 5:
        return 0.15 if 10 <= hour < 16 else 0.02
    if hour < 7.5 or hour >= 19:
        return 0.02
    if hour < 9:
        return 0.02 + 0.98 * (hour - 7.5) / 1.5
    if hour >= 17:
        return 1.0 - 0.98 * (hour - 17) / 2
    return 0.7 if 12 <= hour < 13 else 1.0


def _co2_shape(time_constant_minutes: float = 45.0) -> tuple[float, ...]:
    """Occupancy smoothed by an exponential moving average (the room's air), 0..1 per minute of the week.

    Two passes over the week so the value at Monday 00:00 already carries Sunday's decay.
    """
    alpha = 1 - math.exp(-1 / time_constant_minutes)
    occupancy = [_occupancy(m) for m in range(MINUTES_PER_WEEK)]
    level = occupancy[-1]
    shape = [0.0] * MINUTES_PER_WEEK
    for _ in range(2):
        for minute, present in enumerate(occupancy):
            level += alpha * (present - level)
            shape[minute] = level
    return tuple(shape)


DAY_CYCLE = _daily_cycle()
CO2_SHAPE = _co2_shape()


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What makes one simulated device different from the others; fixed for the device's life."""

    utc_offset_minutes: int  # where it is: its day starts at a different instant
    temperature_base: float
    temperature_amplitude: float
    temperature_noise: float
    drift_per_hour: float  # the sensor's slow calibration drift, °C per hour
    humidity_base: float
    humidity_amplitude: float
    co2_gain: float  # ppm above outdoor air when the room is full
    co2_noise: float
    battery_start: float
    battery_drain: float  # percentage points per reading


def make_profile(seed: int, index: int) -> DeviceProfile:
    """The profile of device number `index` of a run with this seed: the same every time."""
    rng = random.Random(f"{seed}/{index}")
    return DeviceProfile(
        utc_offset_minutes=rng.randint(-8, 10) * 60,
        temperature_base=rng.uniform(19.0, 24.0),
        temperature_amplitude=rng.uniform(1.5, 4.0),
        temperature_noise=rng.uniform(0.05, 0.2),
        drift_per_hour=rng.uniform(-0.05, 0.05),
        humidity_base=rng.uniform(38.0, 58.0),
        humidity_amplitude=rng.uniform(4.0, 10.0),
        co2_gain=rng.uniform(350.0, 1100.0),
        co2_noise=rng.uniform(5.0, 20.0),
        battery_start=rng.uniform(60.0, 100.0),
        battery_drain=rng.uniform(0.0005, 0.002),
    )


def clamp(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return low if value < low else high if value > high else value
