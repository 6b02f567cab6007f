"""Alerts (spec §3.2.1–§3.2.4): one rule firing for one device, then acknowledged and resolved by people."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.alerting.domain.rules import Rule, Severity


class AlertStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# An alert in these states still needs someone: it blocks a second alert of its rule and device.
OPEN_STATUSES = frozenset({AlertStatus.TRIGGERED, AlertStatus.ACKNOWLEDGED})


@dataclass(frozen=True)
class UserRef:
    user_id: str
    name: str


@dataclass(frozen=True)
class Comment:
    user_id: str
    comment: str
    at_ms: int


@dataclass(frozen=True)
class Alert:
    alert_id: str
    organization_id: str
    rule_id: str
    rule_name: str
    device_id: str
    device_name: str
    severity: Severity
    status: AlertStatus
    condition: str
    actual_value: float
    threshold: float
    triggered_at_ms: int
    acknowledged_at_ms: int | None = None
    acknowledged_by: UserRef | None = None
    resolved_at_ms: int | None = None
    resolved_by: UserRef | None = None
    resolution: str | None = None
    prevention_notes: str | None = None
    notifications_sent: tuple[str, ...] = ()
    comments: tuple[Comment, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class AlertCandidate:
    """What the evaluator asks to raise: the rule fired for this device with this reading."""

    rule: Rule
    device_id: str
    device_name: str
    actual_value: float
    threshold: float
    condition: str
    at_ms: int
