"""Rules, candidates and callers for the alerting tests, with defaults a test overrides by keyword."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.alerting.domain.alerts import Alert, AlertCandidate, AlertStatus
from services.alerting.domain.rules import Combine, Condition, Operator, Rule, Schedule, Severity
from services.kernel.caller import Caller, Role

T0_MS = 1_763_200_800_000  # 2025-11-15T10:00:00Z


def a_rule(**changes: Any) -> Rule:
    rule = Rule(
        rule_id="rule-temp-high",
        organization_id="org-1",
        name="High Temperature Alert",
        description="Alert when temperature exceeds 40°C",
        device_type="temperature-sensor-v2",
        device_ids=frozenset(),
        conditions=(Condition("temperature", Operator.GT, 40.0, 300),),
        combine=Combine.ALL,
        severity=Severity.WARNING,
        notifications=("email", "push"),
        webhooks=(),
        cooldown_seconds=900,
        schedule=Schedule(),
        enabled=True,
        created_at_ms=T0_MS,
        updated_at_ms=T0_MS,
    )
    return replace(rule, **changes)


def a_candidate(rule: Rule | None = None, **changes: Any) -> AlertCandidate:
    rule = rule or a_rule()
    candidate = AlertCandidate(
        rule=rule,
        device_id="dev-abc123",
        device_name="Office-Temp-Sensor-1",
        actual_value=42.5,
        threshold=40.0,
        condition=rule.condition_text(),
        at_ms=T0_MS,
    )
    return replace(candidate, **changes)


def an_alert(**changes: Any) -> Alert:
    alert = Alert(
        alert_id="alert-123",
        organization_id="org-1",
        rule_id="rule-temp-high",
        rule_name="High Temperature Alert",
        device_id="dev-abc123",
        device_name="Office-Temp-Sensor-1",
        severity=Severity.WARNING,
        status=AlertStatus.TRIGGERED,
        condition="temperature > 40",
        actual_value=42.5,
        threshold=40.0,
        triggered_at_ms=T0_MS,
    )
    return replace(alert, **changes)


def a_caller(role: Role = Role.ADMIN, user: str = "user-456", org: str = "org-1") -> Caller:
    return Caller(user, org, role, email=f"{user}@example.com")
