"""Domain values ↔ iot.alerting.v1 messages, shared by the edges that speak the contract: the gRPC servicer
and the bus adapter (events carry the same Alert and AlertRule messages). `rule_from_proto` reads a rule back
from a RuleChanged event, for caches that must not call back."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from google.protobuf import timestamp_pb2
from iot.alerting.v1 import alerting_pb2

from services.alerting.domain.alerts import Alert, UserRef
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
from services.alerting.domain.validation import DAY_NAMES, day_name, time_text


def timestamp(ms: int) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromMilliseconds(ms)
    return message


def millis(message: timestamp_pb2.Timestamp) -> int:
    return int(message.ToMilliseconds())


def _user(user: UserRef | None) -> alerting_pb2.UserRef | None:
    return alerting_pb2.UserRef(user_id=user.user_id, name=user.name) if user is not None else None


def alert_to_proto(alert: Alert, related: Sequence[Alert] = ()) -> alerting_pb2.Alert:
    """The §3.2.2 shape; absent values stay unset so that JSON leaves them out."""
    return alerting_pb2.Alert(
        alert_id=alert.alert_id,
        rule_id=alert.rule_id,
        rule_name=alert.rule_name,
        device_id=alert.device_id,
        device_name=alert.device_name,
        severity=alert.severity.value,
        status=alert.status.value,
        condition=alert.condition,
        actual_value=alert.actual_value,
        threshold=alert.threshold,
        triggered_at=timestamp(alert.triggered_at_ms),
        acknowledged_at=timestamp(alert.acknowledged_at_ms) if alert.acknowledged_at_ms is not None else None,
        acknowledged_by=_user(alert.acknowledged_by),
        resolved_at=timestamp(alert.resolved_at_ms) if alert.resolved_at_ms is not None else None,
        resolved_by=_user(alert.resolved_by),
        resolution=alert.resolution,
        prevention_notes=alert.prevention_notes,
        notifications_sent=list(alert.notifications_sent),
        comments=[
            alerting_pb2.AlertComment(user_id=c.user_id, comment=c.comment, timestamp=timestamp(c.at_ms))
            for c in alert.comments
        ],
        related_alerts=[
            alerting_pb2.RelatedAlert(
                alert_id=r.alert_id, device_name=r.device_name, triggered_at=timestamp(r.triggered_at_ms)
            )
            for r in related
        ],
        organization_id=alert.organization_id,
    )


def condition_to_proto(condition: Condition) -> alerting_pb2.Condition:
    no_data = condition.kind is ConditionKind.NO_DATA
    return alerting_pb2.Condition(
        metric=condition.metric,
        operator="" if no_data else condition.operator.value,
        threshold=condition.threshold,
        duration=condition.duration_seconds,
        kind=condition.kind.value,
    )


def actions_to_proto(rule: Rule) -> alerting_pb2.RuleActions:
    return alerting_pb2.RuleActions(
        notifications=list(rule.notifications), webhooks=[alerting_pb2.Webhook(url=url) for url in rule.webhooks]
    )


def schedule_to_proto(schedule: Schedule) -> alerting_pb2.Schedule:
    if schedule.type is ScheduleType.ALWAYS:
        return alerting_pb2.Schedule(type=schedule.type.value)
    return alerting_pb2.Schedule(
        type=schedule.type.value,
        days=[day_name(d) for d in sorted(schedule.days)],
        start_time=time_text(schedule.start) if schedule.start else None,
        end_time=time_text(schedule.end) if schedule.end else None,
        timezone=schedule.timezone,
    )


def rule_to_proto(rule: Rule) -> alerting_pb2.AlertRule:
    conditions = [condition_to_proto(c) for c in rule.conditions]
    return alerting_pb2.AlertRule(
        rule_id=rule.rule_id,
        name=rule.name,
        description=rule.description,
        device_type=rule.device_type,
        device_ids=sorted(rule.device_ids),
        # The spec's shape has one `condition`; rules of several conditions show only `conditions`.
        condition=conditions[0] if len(conditions) == 1 else None,
        conditions=conditions,
        combine=rule.combine.value,
        severity=rule.severity.value,
        actions=actions_to_proto(rule),
        cooldown_period=rule.cooldown_seconds,
        schedule=schedule_to_proto(rule.schedule),
        enabled=rule.enabled,
        organization_id=rule.organization_id,
        created_at=timestamp(rule.created_at_ms),
        updated_at=timestamp(rule.updated_at_ms),
    )


def rule_from_proto(message: alerting_pb2.AlertRule, *, deleted_at_ms: int | None = None) -> Rule:
    """A rule as rule_to_proto wrote it (already validated: no checks here)."""
    schedule = message.schedule
    return Rule(
        rule_id=message.rule_id,
        organization_id=message.organization_id,
        name=message.name,
        description=message.description,
        device_type=message.device_type,
        device_ids=frozenset(message.device_ids),
        conditions=tuple(
            Condition(
                c.metric,
                Operator(c.operator) if c.operator else Operator.GT,
                c.threshold,
                c.duration,
                ConditionKind(c.kind or ConditionKind.THRESHOLD.value),
            )
            for c in (message.conditions or [message.condition])
        ),
        combine=Combine(message.combine or Combine.ALL.value),
        severity=Severity(message.severity),
        notifications=tuple(message.actions.notifications),
        webhooks=tuple(w.url for w in message.actions.webhooks),
        cooldown_seconds=message.cooldown_period,
        schedule=Schedule(
            ScheduleType(schedule.type or ScheduleType.ALWAYS.value),
            frozenset(DAY_NAMES.index(d) for d in schedule.days),
            datetime.time.fromisoformat(schedule.start_time) if schedule.HasField("start_time") else None,
            datetime.time.fromisoformat(schedule.end_time) if schedule.HasField("end_time") else None,
            schedule.timezone if schedule.HasField("timezone") else "UTC",
        ),
        enabled=message.enabled,
        created_at_ms=millis(message.created_at),
        updated_at_ms=millis(message.updated_at),
        deleted_at_ms=deleted_at_ms,
    )
