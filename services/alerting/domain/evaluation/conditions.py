"""What one reading says about one condition."""

from __future__ import annotations

from services.alerting.domain.evaluation.state import MetricTrack
from services.alerting.domain.rules import Condition, ConditionKind

MINUTE_MS = 60_000


def compared_value(condition: Condition, value: float, timestamp_ms: int, previous: MetricTrack | None) -> float | None:
    """The number the condition compares with its threshold for this reading; None when it says nothing
    (a rate needs an earlier reading of the metric; no-data conditions are about silence, not values)."""
    if condition.kind is ConditionKind.THRESHOLD:
        return value
    if condition.kind is ConditionKind.RATE:
        if previous is None or timestamp_ms <= previous.timestamp_ms:
            return None
        return (value - previous.value) * MINUTE_MS / (timestamp_ms - previous.timestamp_ms)
    return None
