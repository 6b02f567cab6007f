"""The deliveries one alert calls for: per user and channel, plus one per webhook of the rule."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from services.notification.domain.channels import choose_channels
from services.notification.domain.model import AlertActions, AlertNotice, Channel, Recipient, Subject

WEBHOOK_USER = ""  # webhooks belong to the rule: once per alert, not per user


@dataclass(frozen=True)
class PlannedDelivery:
    delivery_id: str
    channel: Channel
    user_id: str
    # The webhook URL; empty for user channels (their address is looked up when sending).
    target: str
    recipient: Recipient | None
    suppressed_reason: str | None = None


def delivery_id(alert_id: str, user_id: str, channel: Channel, target: str = "") -> str:
    """Stable across redeliveries and processes: the log's key, the Message-ID and the webhook delivery id."""
    digest = hashlib.sha256("\x1f".join((alert_id, user_id, channel.value, target)).encode()).hexdigest()
    return f"dlv-{digest[:24]}"


def plan_deliveries(notice: AlertNotice, recipients: list[Recipient], at: datetime) -> list[PlannedDelivery]:
    return plan_for(notice.alert, notice.actions, recipients, at)


def plan_for(alert: Subject, actions: AlertActions, recipients: list[Recipient], at: datetime) -> list[PlannedDelivery]:
    """The deliveries of an alert or a firmware notice: its key, severity and the channels asked for."""
    planned: list[PlannedDelivery] = []
    seen_users: set[str] = set()
    for recipient in recipients:
        if recipient.user_id in seen_users:
            continue
        seen_users.add(recipient.user_id)
        for choice in choose_channels(recipient, actions, alert.severity, at):
            planned.append(
                PlannedDelivery(
                    delivery_id(alert.alert_id, recipient.user_id, choice.channel),
                    choice.channel,
                    recipient.user_id,
                    "",
                    recipient,
                    choice.suppressed_reason,
                )
            )
    for url in dict.fromkeys(actions.webhooks):  # the same URL twice in a rule is called once
        planned.append(
            PlannedDelivery(
                delivery_id(alert.alert_id, WEBHOOK_USER, Channel.WEBHOOK, url),
                Channel.WEBHOOK,
                WEBHOOK_USER,
                url,
                None,
            )
        )
    return planned
