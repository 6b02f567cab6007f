"""Filters of the alert and rule lists (spec §3.2.1, §3.2.8), validated into typed queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from services.alerting.domain.alerts import Alert, AlertStatus
from services.alerting.domain.commands import ListAlerts, ListRules
from services.alerting.domain.rules import Rule, Severity
from services.kernel.errors import Violations
from services.kernel.pagination import PageRequest

E = TypeVar("E", AlertStatus, Severity)

# Related alerts shown with one alert (§3.2.2).
MAX_RELATED = 10


@dataclass(frozen=True)
class AlertFilter:
    status: AlertStatus | None = None
    severity: Severity | None = None
    device_id: str | None = None
    start_ms: int | None = None  # triggeredAt >= start
    end_ms: int | None = None  # triggeredAt <= end

    def matches(self, alert: Alert) -> bool:
        return (
            (self.status is None or alert.status is self.status)
            and (self.severity is None or alert.severity is self.severity)
            and (self.device_id is None or alert.device_id == self.device_id)
            and (self.start_ms is None or alert.triggered_at_ms >= self.start_ms)
            and (self.end_ms is None or alert.triggered_at_ms <= self.end_ms)
        )


@dataclass(frozen=True)
class RuleFilter:
    device_type: str | None = None
    enabled: bool | None = None
    severity: Severity | None = None

    def matches(self, rule: Rule) -> bool:
        return (
            (self.device_type is None or rule.device_type == self.device_type)
            and (self.enabled is None or rule.enabled == self.enabled)
            and (self.severity is None or rule.severity is self.severity)
        )


def _enum_filter(kind: type[E], value: str | None, name: str, v: Violations) -> E | None:
    if value is None or not value.strip():
        return None
    try:
        return kind(value.strip().lower())
    except ValueError:
        v.add(name, f"must be one of {', '.join(kind)}, got {value!r}")
        return None


def parse_alert_query(command: ListAlerts) -> tuple[AlertFilter, PageRequest]:
    v = Violations()
    status = _enum_filter(AlertStatus, command.status, "status", v)
    severity = _enum_filter(Severity, command.severity, "severity", v)
    if command.start_ms is not None and command.end_ms is not None and command.start_ms > command.end_ms:
        v.add("endDate", "must not be before startDate")
    v.raise_if_any()
    device_id = (command.device_id or "").strip() or None
    query = AlertFilter(status, severity, device_id, command.start_ms, command.end_ms)
    return query, PageRequest.parse(command.page, command.page_size)


def parse_rule_query(command: ListRules) -> tuple[RuleFilter, PageRequest]:
    v = Violations()
    severity = _enum_filter(Severity, command.severity, "severity", v)
    v.raise_if_any()
    device_type = (command.device_type or "").strip() or None
    return RuleFilter(device_type, command.enabled, severity), PageRequest.parse(command.page, command.page_size)
