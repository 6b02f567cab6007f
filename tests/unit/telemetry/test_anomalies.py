"""The EWMA/z-score detector: quiet on noise, loud on spikes, silent on replays, bounded in memory."""

from __future__ import annotations

import random

from services.telemetry.domain.anomalies import AnomalyDetector, DetectorSettings


def feed(detector: AnomalyDetector, values: list[float], device: str = "dev-1", start: int = 0) -> list[int]:
    """Indices of the values flagged."""
    flagged = []
    for index, value in enumerate(values):
        if detector.observe(device, start + index, {"temperature": value}):
            flagged.append(index)
    return flagged


def noisy(count: int, mean: float = 22.0, spread: float = 0.3, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, spread) for _ in range(count)]


def test_normal_noise_is_not_anomalous_but_a_spike_is() -> None:
    detector = AnomalyDetector()
    values = noisy(300)
    values[250] = 35.0
    assert feed(detector, values) == [250]


def test_the_anomaly_names_the_metric_with_value_and_score() -> None:
    detector = AnomalyDetector(DetectorSettings(warmup=3))
    for t, value in enumerate([20.0, 20.4, 19.8, 20.2]):
        detector.observe("dev-1", t, {"temperature": value, "humidity": 40.0})
    found = detector.observe("dev-1", 10, {"temperature": 40.0, "humidity": 40.5})
    assert found is not None
    (anomaly,) = found
    assert (anomaly.metric, anomaly.value) == ("temperature", 40.0)
    assert anomaly.score > 4


def test_nothing_is_flagged_during_warm_up() -> None:
    detector = AnomalyDetector(DetectorSettings(warmup=20))
    assert feed(detector, [20.0] * 10 + [90.0]) == []


def test_a_flat_signal_tolerates_small_steps() -> None:
    detector = AnomalyDetector()
    assert feed(detector, [85.0] * 50 + [84.0, 83.0]) == []
    assert feed(detector, [85.0] * 50 + [40.0], device="dev-2") == [50]


def test_a_replayed_or_late_reading_is_neither_scored_nor_learned() -> None:
    detector = AnomalyDetector(DetectorSettings(warmup=5))
    feed(detector, noisy(50))
    assert detector.observe("dev-1", 10, {"temperature": 99.0}) is None  # older than the newest
    assert detector.observe("dev-1", 100, {"temperature": 99.0}) is not None
    assert detector.observe("dev-1", 100, {"temperature": 99.0}) is None  # the same reading again


def test_a_level_shift_becomes_the_new_normal() -> None:
    detector = AnomalyDetector()
    flagged = feed(detector, noisy(100) + noisy(300, mean=30.0, seed=8))
    assert flagged[:1] == [100]
    assert max(flagged) < 200


def test_devices_are_forgotten_least_recently_seen_first() -> None:
    detector = AnomalyDetector(DetectorSettings(max_devices=2))
    for t, device in enumerate(["a", "b", "a", "c"]):
        detector.observe(device, t, {"x": 1.0})
    assert len(detector) == 2
    # "b" was forgotten: it starts over, so a reading older than its last one is taken again.
    assert detector.observe("b", 0, {"x": 1.0}) is None
    assert detector.observe("a", 2, {"x": 1.0}) is None


def test_skipped_metrics_are_never_scored() -> None:
    detector = AnomalyDetector(DetectorSettings(warmup=1))
    skip = frozenset({"dewPoint"})
    detector.observe("dev-1", 1, {"dewPoint": 1.0, "temperature": 1.0}, skip)
    found = detector.observe("dev-1", 2, {"dewPoint": 1000.0, "temperature": 1000.0}, skip)
    assert found is not None
    assert [a.metric for a in found] == ["temperature"]
