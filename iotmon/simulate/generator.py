"""Realistic §4.1 telemetry records for a fleet of simulated temperature-sensor-v2 devices, generated fast.

Devices take turns (round robin), so a total rate R spreads evenly over N devices. Each device's timestamps
strictly increase, so every distinct reading has its own (device, timestamp) identity and a receiver can
count exactly what it stored. Irregularities are deliberate and counted:
- out of order: a reading is held back and sent right after the device's next (newer) reading;
- duplicates: a reading is sent twice, as a redelivery would;
- anomalies: one metric of a reading spikes far outside its usual band (still inside the valid range).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from iotmon.simulate.models import (
    BATTERY_REPLACED_BELOW,
    CO2_SHAPE,
    DAY_CYCLE,
    MINUTES_PER_DAY,
    MINUTES_PER_WEEK,
    MONDAY_SHIFT_MINUTES,
    OUTDOOR_CO2_PPM,
    RANGES,
    DeviceProfile,
    clamp,
    make_profile,
)

MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MAX_IRREGULARITY = 0.5
# Standard normal draws are precomputed once per generator; a prime length keeps the devices, which take
# three draws per reading in turn, from lining up with the table's period.
NORMALS = 65_521
HUMIDITY_NOISE = 0.8  # % relative humidity
TEMPERATURE_RANGE, HUMIDITY_RANGE, CO2_RANGE = RANGES["temperature"], RANGES["humidity"], RANGES["co2"]


class TelemetryRecord(TypedDict):
    """The spec §4.1 record, exactly as it goes on the wire."""

    deviceId: str
    timestamp: int  # epoch milliseconds
    data: dict[str, float]


@dataclass(frozen=True)
class Irregularities:
    """Fractions (0..0.5) of readings sent out of order, sent twice, or carrying a spike."""

    out_of_order: float = 0.02
    duplicates: float = 0.01
    anomalies: float = 0.002

    def __post_init__(self) -> None:
        for name in ("out_of_order", "duplicates", "anomalies"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_IRREGULARITY:
                raise ValueError(f"{name} must be a fraction between 0 and {MAX_IRREGULARITY}, got {value}")


@dataclass
class GeneratorCounts:
    readings: int = 0  # distinct readings handed out
    duplicates: int = 0  # extra copies handed out
    out_of_order: int = 0  # readings handed out after a newer reading of the same device
    anomalies: int = 0

    @property
    def messages(self) -> int:
        return self.readings + self.duplicates


class _Device:
    __slots__ = ("battery", "device_id", "held", "last_ms", "profile")

    def __init__(self, device_id: str, profile: DeviceProfile):
        self.device_id = device_id
        self.profile = profile
        self.battery = profile.battery_start
        self.last_ms = 0
        self.held: TelemetryRecord | None = None


class ReadingGenerator:
    """Hands out records on demand; with the same seed, devices and clock it produces the same records."""

    def __init__(
        self, device_ids: Sequence[str], *, seed: int | None = None, irregularities: Irregularities | None = None
    ):
        if not device_ids:
            raise ValueError("at least one device is needed")
        # Without a seed one is drawn, and kept, so a run can be reproduced from its summary.
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.irregularities = irregularities or Irregularities()
        self.counts = GeneratorCounts()
        self._rng = random.Random(self.seed)
        self._normals = tuple(self._rng.gauss(0.0, 1.0) for _ in range(NORMALS + 2))
        self._normal_at = self._rng.randrange(NORMALS)
        self._spikes = self.irregularities.anomalies
        self._devices = [_Device(device_id, make_profile(self.seed, i)) for i, device_id in enumerate(device_ids)]
        self._turn = 0
        self._start_ms: int | None = None
        self._carry: list[TelemetryRecord] = []

    def take(self, count: int, now_ms: int) -> list[TelemetryRecord]:
        """Exactly `count` messages (readings plus any out-of-order or duplicate copies), stamped ~now_ms."""
        if self._start_ms is None:
            self._start_ms = now_ms
        out, self._carry = self._carry[:count], self._carry[count:]
        chance = self._rng.random
        late, twice = self.irregularities.out_of_order, self.irregularities.duplicates
        devices, turn, counts = self._devices, self._turn, self.counts
        while len(out) < count:
            device = devices[turn]
            turn = turn + 1 if turn + 1 < len(devices) else 0
            timestamp = now_ms if now_ms > device.last_ms else device.last_ms + 1
            device.last_ms = timestamp
            record = self._reading(device, timestamp)
            held = device.held
            if held is None and late and chance() < late:
                device.held = record  # goes out after this device's next reading
                continue
            out.append(record)
            counts.readings += 1
            if held is not None:
                out.append(held)
                device.held = None
                counts.readings += 1
                counts.out_of_order += 1
            if twice and chance() < twice:
                out.append(record)
                counts.duplicates += 1
        self._turn = turn
        if len(out) > count:
            self._carry = out[count:] + self._carry
            del out[count:]
        return out

    def release_held(self) -> list[TelemetryRecord]:
        """Readings still held back or carried over (at the end of a run): nothing generated is left unsent."""
        released, self._carry = self._carry, []
        for device in self._devices:
            if device.held is not None:
                released.append(device.held)
                device.held = None
                self.counts.readings += 1
        return released

    def _reading(self, device: _Device, timestamp: int) -> TelemetryRecord:
        profile, normals = device.profile, self._normals
        # Three standard normal draws from the precomputed table (random.gauss costs ten times more).
        at = self._normal_at
        self._normal_at = (at + 3) % NORMALS
        minute = timestamp // MS_PER_MINUTE + profile.utc_offset_minutes
        cycle = DAY_CYCLE[minute % MINUTES_PER_DAY]
        hours = (timestamp - (self._start_ms or timestamp)) / MS_PER_HOUR
        temperature = (
            profile.temperature_base
            + profile.temperature_amplitude * cycle
            + profile.drift_per_hour * hours
            + profile.temperature_noise * normals[at]
        )
        humidity = profile.humidity_base - profile.humidity_amplitude * cycle + HUMIDITY_NOISE * normals[at + 1]
        room_air = CO2_SHAPE[(minute + MONDAY_SHIFT_MINUTES) % MINUTES_PER_WEEK]
        co2 = OUTDOOR_CO2_PPM + profile.co2_gain * room_air + profile.co2_noise * normals[at + 2]
        battery = device.battery - profile.battery_drain
        device.battery = battery = 100.0 if battery < BATTERY_REPLACED_BELOW else battery
        if self._spikes and self._rng.random() < self._spikes:
            temperature, humidity, co2 = self._spike(temperature, humidity, co2)
        return {
            "deviceId": device.device_id,
            "timestamp": timestamp,
            # round(x * 100) / 100 is the shortest-repr float and several times cheaper than round(x, 2).
            "data": {
                "temperature": round(clamp(temperature, TEMPERATURE_RANGE) * 100) / 100,
                "humidity": round(clamp(humidity, HUMIDITY_RANGE) * 10) / 10,
                "co2": round(clamp(co2, CO2_RANGE)),
                "battery": round(battery * 10) / 10,
            },
        }

    def _spike(self, temperature: float, humidity: float, co2: float) -> tuple[float, float, float]:
        """One metric jumps far outside its band: a heater next to the sensor, a kettle, a crowded room."""
        self.counts.anomalies += 1
        uniform = self._rng.uniform
        which = self._rng.randrange(3)
        if which == 0:
            return temperature + uniform(8.0, 20.0), humidity, co2
        if which == 1:
            return temperature, humidity + uniform(25.0, 40.0), co2
        return temperature, humidity, co2 * uniform(2.5, 4.0)
