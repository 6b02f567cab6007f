"""Anomaly detection per (device, metric): an exponentially weighted mean and variance, and a z-score.

For each new value x of a metric: z = |x − mean| / std, flagged when z exceeds the threshold once the metric
has seen `warmup` values; then mean and variance move towards x (West 1979 / Finch 2009 incremental EWMA).
The standard deviation never counts as less than `relative_floor` × |mean|, so a perfectly flat signal does
not flag every small step. Only readings newer than the device's newest one update the state: a redelivered
or out-of-order reading is neither scored nor learned from, so replays never raise an anomaly twice.

State lives in memory, bounded: the least recently seen devices are forgotten first (they warm up again).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class DetectorSettings:
    threshold: float = 4.0  # z-score above which a value is anomalous
    alpha: float = 0.05  # weight of a new value (≈ a window of 2/alpha − 1 = 39 values)
    warmup: int = 20  # values a metric needs before it can be flagged
    relative_floor: float = 0.02
    max_devices: int = 100_000


@dataclass(frozen=True, slots=True)
class Anomaly:
    metric: str
    value: float
    score: float


class _DeviceState:
    __slots__ = ("metrics", "newest_ms")

    def __init__(self) -> None:
        self.newest_ms = -1
        # metric → [mean, variance, count]; lists, updated in place, cost less than objects here.
        self.metrics: dict[str, list[float]] = {}


class AnomalyDetector:
    def __init__(self, settings: DetectorSettings | None = None):
        self.settings = settings = settings or DetectorSettings()
        self._devices: OrderedDict[str, _DeviceState] = OrderedDict()
        self._alpha, self._warmup = settings.alpha, float(settings.warmup)
        self._threshold_squared = settings.threshold * settings.threshold
        self._floor_squared = settings.relative_floor * settings.relative_floor

    def __len__(self) -> int:
        return len(self._devices)

    def observe(
        self, device_id: str, timestamp_ms: int, values: dict[str, float], skip: frozenset[str] = frozenset()
    ) -> list[Anomaly] | None:
        """Score and learn one reading; the anomalous metrics, or None (the common case: nothing to report).

        Runs for every metric of every reading, so it compares squares (no sqrt, no abs) and keeps the score's
        computation for the rare flagged value.
        """
        devices = self._devices
        state = devices.get(device_id)
        if state is None:
            state = self._new_state(device_id)
        else:
            devices.move_to_end(device_id)
        if timestamp_ms <= state.newest_ms:
            return None
        state.newest_ms = timestamp_ms
        alpha, keep, warmup = self._alpha, 1.0 - self._alpha, self._warmup
        threshold_squared, floor_squared = self._threshold_squared, self._floor_squared
        found: list[Anomaly] | None = None
        metrics = state.metrics
        for name, x in values.items():
            stats = metrics.get(name)
            if stats is None:
                if name not in skip:
                    metrics[name] = [x, 0.0, 1.0]
                continue
            mean, variance, count = stats
            diff = x - mean
            if count >= warmup:
                # z² = diff² / max(variance, (floor × mean)², ε)
                bound = floor_squared * mean * mean
                if variance > bound:
                    bound = variance
                if diff * diff > threshold_squared * (bound + 1e-18):
                    found = found or []
                    found.append(Anomaly(name, x, abs(diff) / math.sqrt(bound + 1e-18)))
            increment = alpha * diff
            stats[0] = mean + increment
            stats[1] = keep * (variance + diff * increment)
            stats[2] = count + 1.0
        return found

    def _new_state(self, device_id: str) -> _DeviceState:
        devices = self._devices
        state = devices[device_id] = _DeviceState()
        if len(devices) > self.settings.max_devices:
            devices.popitem(last=False)  # the least recently seen device
        return state
