"""AlertingEvents on the event bus (routing keys alerting.*), and the notification.delivered listener."""

from __future__ import annotations

import logging

from iot.alerting.v1 import events_pb2
from iot.notification.v1 import events_pb2 as notification_events

from services.alerting.domain.alerts import Alert
from services.alerting.domain.rules import Rule
from services.alerting.domain.service import AlertingService
from services.alerting.messages import actions_to_proto, alert_to_proto, rule_to_proto
from services.alerting.ports import RuleChange
from services.runtime.bus import EventPublisher, event_meta
from services.runtime.otel.hooks import count_alert_generated

log = logging.getLogger("iotmon.alerting")

ALERT_TRIGGERED = "alerting.alert_triggered"
ALERT_ACKNOWLEDGED = "alerting.alert_acknowledged"
ALERT_RESOLVED = "alerting.alert_resolved"
RULE_CHANGED = "alerting.rule_changed"
NOTIFICATION_DELIVERED = "notification.delivered"


class BusAlertingEvents:
    def __init__(self, bus: EventPublisher):
        self._bus = bus

    async def triggered(self, alert: Alert, rule: Rule) -> None:
        count_alert_generated(alert.severity.value)
        event = events_pb2.AlertTriggered(
            meta=event_meta(alert.organization_id), alert=alert_to_proto(alert), actions=actions_to_proto(rule)
        )
        await self._bus.publish(ALERT_TRIGGERED, event)

    async def acknowledged(self, alert: Alert, actor_user_id: str) -> None:
        meta = event_meta(alert.organization_id, actor_user_id)
        await self._bus.publish(
            ALERT_ACKNOWLEDGED, events_pb2.AlertAcknowledged(meta=meta, alert=alert_to_proto(alert))
        )

    async def resolved(self, alert: Alert, actor_user_id: str) -> None:
        meta = event_meta(alert.organization_id, actor_user_id)
        await self._bus.publish(ALERT_RESOLVED, events_pb2.AlertResolved(meta=meta, alert=alert_to_proto(alert)))

    async def rule_changed(self, rule: Rule, change: RuleChange, actor_user_id: str) -> None:
        event = events_pb2.RuleChanged(
            meta=event_meta(rule.organization_id, actor_user_id),
            rule_id=rule.rule_id,
            change=change.value,
            rule=rule_to_proto(rule),
        )
        await self._bus.publish(RULE_CHANGED, event)


class DeliveryListener:
    """Subscribed (group "alerting") to notification.delivered: a sent notification shows in the alert's
    notificationsSent. Idempotent, so redelivered events change nothing."""

    def __init__(self, service: AlertingService):
        self._service = service

    async def on_delivered(self, routing_key: str, payload: bytes) -> None:
        delivery = notification_events.NotificationDelivered.FromString(payload).delivery
        await self._service.record_delivery(delivery.alert_id, delivery.channel, delivery.status)
