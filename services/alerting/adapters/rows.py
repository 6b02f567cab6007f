"""Rules and alerts as table rows, shared by the SQLite and PostgreSQL stores.

A rule is stored as one JSON document plus the columns its queries filter on; an alert as columns, with its
comments and notifications_sent as JSON arrays. Both stores use the same column order and filters; only the
placeholder style differs (`?` against `$1`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from services.alerting.domain.alerts import OPEN_STATUSES, Alert, AlertStatus, Comment, UserRef
from services.alerting.domain.listing import AlertFilter, RuleFilter
from services.alerting.domain.rules import (
    Combine,
    Condition,
    ConditionKind,
    Operator,
    Rule,
    Schedule,
    ScheduleType,
    Severity,
)

Placeholder = Callable[[int], str]

RULE_COLUMNS = (
    "rule_id, organization_id, device_type, severity, enabled, deleted_at_ms, created_at_ms, updated_at_ms, body"
)
ALERT_COLUMNS = (
    "alert_id, organization_id, rule_id, rule_name, device_id, device_name, severity, status, condition, "
    "actual_value, threshold, triggered_at_ms, acknowledged_at_ms, acknowledged_by_id, acknowledged_by_name, "
    "resolved_at_ms, resolved_by_id, resolved_by_name, resolution, prevention_notes, notifications_sent, comments"
)
# What a transition changes (save_alert): everything people do to an alert, not what the platform records.
ALERT_MUTABLE = (
    "status",
    "acknowledged_at_ms",
    "acknowledged_by_id",
    "acknowledged_by_name",
    "resolved_at_ms",
    "resolved_by_id",
    "resolved_by_name",
    "resolution",
    "prevention_notes",
    "comments",
)
# The open alerts, as a condition on the status column (sorted: the same SQL text every time).
OPEN_IN = "status IN ({})".format(", ".join(sorted(f"'{status.value}'" for status in OPEN_STATUSES)))


def rule_body(rule: Rule) -> str:
    schedule = rule.schedule
    document = {
        "name": rule.name,
        "description": rule.description,
        "deviceIds": sorted(rule.device_ids),
        "conditions": [
            {
                "metric": c.metric,
                "operator": c.operator.value,
                "threshold": c.threshold,
                "duration": c.duration_seconds,
                "kind": c.kind.value,
            }
            for c in rule.conditions
        ],
        "combine": rule.combine.value,
        "notifications": list(rule.notifications),
        "webhooks": list(rule.webhooks),
        "cooldownSeconds": rule.cooldown_seconds,
        "schedule": {
            "type": schedule.type.value,
            "days": sorted(schedule.days),
            "start": schedule.start.isoformat() if schedule.start else None,
            "end": schedule.end.isoformat() if schedule.end else None,
            "timezone": schedule.timezone,
        },
    }
    return orjson.dumps(document).decode()


def rule_row(rule: Rule) -> tuple[Any, ...]:
    return (
        rule.rule_id,
        rule.organization_id,
        rule.device_type,
        rule.severity.value,
        rule.enabled,
        rule.deleted_at_ms,
        rule.created_at_ms,
        rule.updated_at_ms,
        rule_body(rule),
    )


def rule_from_row(row: Sequence[Any]) -> Rule:
    rule_id, organization_id, device_type, severity, enabled, deleted_at_ms, created_at_ms, updated_at_ms, body = row
    document = orjson.loads(body)
    schedule = document["schedule"]
    return Rule(
        rule_id=rule_id,
        organization_id=organization_id,
        name=document["name"],
        description=document["description"],
        device_type=device_type,
        device_ids=frozenset(document["deviceIds"]),
        conditions=tuple(
            Condition(c["metric"], Operator(c["operator"]), c["threshold"], c["duration"], ConditionKind(c["kind"]))
            for c in document["conditions"]
        ),
        combine=Combine(document["combine"]),
        severity=Severity(severity),
        notifications=tuple(document["notifications"]),
        webhooks=tuple(document["webhooks"]),
        cooldown_seconds=document["cooldownSeconds"],
        schedule=Schedule(
            ScheduleType(schedule["type"]),
            frozenset(schedule["days"]),
            datetime.time.fromisoformat(schedule["start"]) if schedule["start"] else None,
            datetime.time.fromisoformat(schedule["end"]) if schedule["end"] else None,
            schedule["timezone"],
        ),
        enabled=bool(enabled),
        created_at_ms=created_at_ms,
        updated_at_ms=updated_at_ms,
        deleted_at_ms=deleted_at_ms,
    )


def _comments_json(comments: Sequence[Comment]) -> str:
    return orjson.dumps([{"userId": c.user_id, "comment": c.comment, "atMs": c.at_ms} for c in comments]).decode()


def alert_row(alert: Alert) -> tuple[Any, ...]:
    acknowledged, resolved = alert.acknowledged_by, alert.resolved_by
    return (
        alert.alert_id,
        alert.organization_id,
        alert.rule_id,
        alert.rule_name,
        alert.device_id,
        alert.device_name,
        alert.severity.value,
        alert.status.value,
        alert.condition,
        alert.actual_value,
        alert.threshold,
        alert.triggered_at_ms,
        alert.acknowledged_at_ms,
        acknowledged.user_id if acknowledged else None,
        acknowledged.name if acknowledged else None,
        alert.resolved_at_ms,
        resolved.user_id if resolved else None,
        resolved.name if resolved else None,
        alert.resolution,
        alert.prevention_notes,
        orjson.dumps(list(alert.notifications_sent)).decode(),
        _comments_json(alert.comments),
    )


def alert_mutable_values(alert: Alert) -> tuple[Any, ...]:
    """The ALERT_MUTABLE columns' values, in that order."""
    row = dict(zip(ALERT_COLUMNS.split(", "), alert_row(alert), strict=True))
    return tuple(row[name] for name in ALERT_MUTABLE)


def _user(user_id: str | None, name: str | None) -> UserRef | None:
    return UserRef(user_id, name or "") if user_id is not None else None


def alert_from_row(row: Sequence[Any]) -> Alert:
    (
        alert_id,
        organization_id,
        rule_id,
        rule_name,
        device_id,
        device_name,
        severity,
        status,
        condition,
        actual_value,
        threshold,
        triggered_at_ms,
        acknowledged_at_ms,
        acknowledged_by_id,
        acknowledged_by_name,
        resolved_at_ms,
        resolved_by_id,
        resolved_by_name,
        resolution,
        prevention_notes,
        notifications_sent,
        comments,
    ) = row
    return Alert(
        alert_id=alert_id,
        organization_id=organization_id,
        rule_id=rule_id,
        rule_name=rule_name,
        device_id=device_id,
        device_name=device_name,
        severity=Severity(severity),
        status=AlertStatus(status),
        condition=condition,
        actual_value=actual_value,
        threshold=threshold,
        triggered_at_ms=triggered_at_ms,
        acknowledged_at_ms=acknowledged_at_ms,
        acknowledged_by=_user(acknowledged_by_id, acknowledged_by_name),
        resolved_at_ms=resolved_at_ms,
        resolved_by=_user(resolved_by_id, resolved_by_name),
        resolution=resolution,
        prevention_notes=prevention_notes,
        notifications_sent=tuple(orjson.loads(notifications_sent)),
        comments=tuple(Comment(c["userId"], c["comment"], c["atMs"]) for c in orjson.loads(comments)),
    )


def alert_where(organization_id: str, query: AlertFilter, placeholder: Placeholder) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword) and its parameters."""
    clauses: list[str] = ["organization_id = {}"]
    params: list[Any] = [organization_id]
    _equal_where_given(
        clauses,
        params,
        status=query.status.value if query.status else None,
        severity=query.severity.value if query.severity else None,
        device_id=query.device_id,
    )
    if query.start_ms is not None:
        clauses.append("triggered_at_ms >= {}")
        params.append(query.start_ms)
    if query.end_ms is not None:
        clauses.append("triggered_at_ms <= {}")
        params.append(query.end_ms)
    return _numbered(clauses, placeholder), params


def rule_where(organization_id: str, query: RuleFilter, placeholder: Placeholder) -> tuple[str, list[Any]]:
    clauses: list[str] = ["organization_id = {}", "deleted_at_ms IS NULL"]
    params: list[Any] = [organization_id]
    _equal_where_given(
        clauses,
        params,
        device_type=query.device_type,
        enabled=query.enabled,
        severity=query.severity.value if query.severity else None,
    )
    return _numbered(clauses, placeholder), params


def _equal_where_given(clauses: list[str], params: list[Any], **columns: Any) -> None:
    """`column = {}` for each column given a value (None: not filtered on)."""
    for column, value in columns.items():
        if value is not None:
            clauses.append(f"{column} = {{}}")
            params.append(value)


def _numbered(clauses: list[str], placeholder: Placeholder) -> str:
    """Fill each clause's `{}` with the placeholder of its parameter (1-based, in order)."""
    filled, index = [], 0
    for clause in clauses:
        if "{}" in clause:
            index += 1
            clause = clause.format(placeholder(index))
        filled.append(clause)
    return " AND ".join(filled)
