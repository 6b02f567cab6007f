"""What one reading says about one condition."""

from __future__ import annotations

from services.alerting.domain.evaluation.state import MetricTrack
from services.alerting.domain.rules import ConditionKind

MINUTE_MS = 60_000
THRESHOLD = ConditionKind.THRESHOLD
RATE = ConditionKind.RATE


def compared_value(kind: ConditionKind, value: float, timestamp_ms: int, previous: MetricTrack | None) -> float | None:
    """The number a condition of this kind compares with its threshold for this reading; None when the reading
    says nothing (a rate needs an earlier reading of the metric; no-data conditions are about silence)."""
    if kind is THRESHOLD:
        return value
    if kind is RATE:
        if previous is None or timestamp_ms <= previous.timestamp_ms:
            return None
        return (value - previous.value) * MINUTE_MS / (timestamp_ms - previous.timestamp_ms)
    return None
