"""The notification service on the event bus: alerting.alert_triggered in, notification.delivered out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC

from iot.alerting.v1 import alerting_pb2, events_pb2
from iot.notification.v1 import events_pb2 as notification_events_pb2
from iot.notification.v1 import notification_pb2

from services.notification.domain.model import Alert, AlertActions, AlertNotice, Channel, Delivery, Severity
from services.runtime.bus import EventBus, EventPublisher, event_meta
from services.runtime.otel.hooks import count_notification_delivery

log = logging.getLogger("iotmon.notification")

ALERT_TRIGGERED = "alerting.alert_triggered"
DELIVERED = "notification.delivered"


def notice_from_event(payload: bytes) -> AlertNotice:
    event = events_pb2.AlertTriggered.FromString(payload)
    return AlertNotice(alert_from_proto(event.alert), actions_from_proto(event.actions))


def alert_from_proto(message: alerting_pb2.Alert) -> Alert:
    try:
        severity = Severity(message.severity.strip().lower())
    except ValueError:
        severity = Severity.WARNING  # an unknown severity is told like a warning rather than dropped
    return Alert(
        alert_id=message.alert_id,
        organization_id=message.organization_id,
        rule_id=message.rule_id,
        rule_name=message.rule_name,
        device_id=message.device_id,
        device_name=message.device_name or message.device_id,
        severity=severity,
        condition=message.condition,
        actual_value=message.actual_value,
        threshold=message.threshold,
        triggered_at=message.triggered_at.ToDatetime(tzinfo=UTC),
    )


def actions_from_proto(message: alerting_pb2.RuleActions) -> AlertActions:
    known = {c.value for c in Channel if c is not Channel.WEBHOOK}
    channels = tuple(Channel(n) for n in dict.fromkeys(n.strip().lower() for n in message.notifications) if n in known)
    return AlertActions(channels, tuple(w.url for w in message.webhooks if w.url))


def delivery_to_proto(delivery: Delivery) -> notification_pb2.Delivery:
    message = notification_pb2.Delivery(
        delivery_id=delivery.delivery_id,
        alert_id=delivery.alert_id,
        user_id=delivery.user_id,
        channel=delivery.channel.value,
        status=delivery.status.value,
        attempts=delivery.attempts,
    )
    if delivery.error is not None:
        message.error = delivery.error
    message.created_at.FromDatetime(delivery.created_at)
    if delivery.sent_at is not None:
        message.sent_at.FromDatetime(delivery.sent_at)
    return message


class BusDeliveryEvents:
    def __init__(self, bus: EventPublisher):
        self._bus = bus

    async def delivered(self, delivery: Delivery) -> None:
        count_notification_delivery(delivery.channel.value, delivery.status.value)
        event = notification_events_pb2.NotificationDelivered(
            meta=event_meta(delivery.organization_id), delivery=delivery_to_proto(delivery)
        )
        # Keyed by alert, so a partitioned consumer (alerting) sees one alert's deliveries in order.
        await self._bus.publish(DELIVERED, event, partition_key=delivery.alert_id)


class AlertTriggeredConsumer:
    """Bus handler for alerting.alert_triggered; raising makes the bus redeliver the event."""

    def __init__(self, dispatch: Callable[[AlertNotice], Awaitable[object]]):
        self._dispatch = dispatch

    async def __call__(self, routing_key: str, payload: bytes) -> None:
        notice = notice_from_event(payload)
        if not notice.alert.alert_id or not notice.alert.organization_id:
            log.error("alert event without an alert or organization id; dropped", extra={"routingKey": routing_key})
            return
        await self._dispatch(notice)


def subscribe_to_alerts(
    bus: EventBus, dispatch: Callable[[AlertNotice], Awaitable[object]], group: str = "notification"
) -> None:
    # One group: the replicas share the alerts, each alert handled by one of them (redelivered on failure).
    bus.subscribe(ALERT_TRIGGERED, AlertTriggeredConsumer(dispatch), group=group)
