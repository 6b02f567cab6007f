"""What the evaluator remembers between readings, per device and per (rule, device).

Plain mutable records with slots: one DeviceState per device this replica has seen (its partitions' devices),
holding the last value of each metric and one Watch per rule that looked at the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Watch.blocked_until_ms while raise_alert is running or an alert is known to be open: no end in sight,
# until the outcome, alerting.alert_resolved or a rule change says otherwise.
BLOCKED = 2**62


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """The device a reading belongs to, as the device service describes it."""

    device_id: str
    organization_id: str
    device_type: str
    name: str


@dataclass(slots=True)
class MetricTrack:
    """The newest reading of one metric of one device."""

    timestamp_ms: int  # the reading's own time: older readings are ignored for state
    value: float
    arrived_ms: int  # when this replica last received the metric (no-data is measured on arrival)


@dataclass(slots=True)
class Watch:
    """One rule's view of one device: per condition, whether it holds and since when."""

    since_ms: list[int | None]  # start of the current streak of true readings, per condition
    met: list[bool]  # the condition counts as true (held long enough), per condition
    values: list[float]  # the value last compared, per condition (the alert's actualValue)
    blocked_until_ms: int = 0  # no raise_alert before this (pending, open alert, or dedup/cooldown backoff)

    @classmethod
    def for_conditions(cls, count: int) -> Watch:
        return cls([None] * count, [False] * count, [0.0] * count)


@dataclass(slots=True)
class DeviceState:
    device: DeviceRef
    arrived_ms: int  # last time any reading of the device arrived
    metrics: dict[str, MetricTrack] = field(default_factory=dict)
    watches: dict[str, Watch] = field(default_factory=dict)  # rule id → watch
