"""The life of an alert: triggered → acknowledged → resolved, and nothing else (spec §3.2.3, §3.2.4)."""

from __future__ import annotations

from dataclasses import replace

from services.alerting.domain.alerts import Alert, AlertCandidate, AlertStatus, Comment, UserRef
from services.alerting.domain.errors import AlertAlreadyAcknowledged, AlertAlreadyResolved, AlertNotAcknowledged


def new_alert(alert_id: str, candidate: AlertCandidate) -> Alert:
    rule = candidate.rule
    return Alert(
        alert_id=alert_id,
        organization_id=rule.organization_id,
        rule_id=rule.rule_id,
        rule_name=rule.name,
        device_id=candidate.device_id,
        device_name=candidate.device_name,
        severity=rule.severity,
        status=AlertStatus.TRIGGERED,
        condition=candidate.condition,
        actual_value=candidate.actual_value,
        threshold=candidate.threshold,
        triggered_at_ms=candidate.at_ms,
    )


def acknowledge(alert: Alert, by: UserRef, comment: str | None, now_ms: int) -> Alert:
    """Only a triggered alert can be acknowledged; a comment given with it joins the alert's comments."""
    if alert.status is AlertStatus.ACKNOWLEDGED:
        raise AlertAlreadyAcknowledged(alert.alert_id)
    if alert.status is AlertStatus.RESOLVED:
        raise AlertAlreadyResolved(alert.alert_id)
    comments = alert.comments + ((Comment(by.user_id, comment, now_ms),) if comment else ())
    return replace(
        alert, status=AlertStatus.ACKNOWLEDGED, acknowledged_at_ms=now_ms, acknowledged_by=by, comments=comments
    )


def resolve(alert: Alert, by: UserRef, resolution: str | None, prevention_notes: str | None, now_ms: int) -> Alert:
    """Only an acknowledged alert can be resolved: someone must have looked at it first."""
    if alert.status is AlertStatus.TRIGGERED:
        raise AlertNotAcknowledged(alert.alert_id)
    if alert.status is AlertStatus.RESOLVED:
        raise AlertAlreadyResolved(alert.alert_id)
    return replace(
        alert,
        status=AlertStatus.RESOLVED,
        resolved_at_ms=now_ms,
        resolved_by=by,
        resolution=resolution,
        prevention_notes=prevention_notes,
    )
