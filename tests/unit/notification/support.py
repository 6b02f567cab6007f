"""Builders of alerts and recipients shared by the notification unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notification.domain.model import (
    Alert,
    AlertActions,
    AlertNotice,
    Channel,
    ChannelPreferences,
    QuietHours,
    Recipient,
    Severity,
)

ORG = "org-1"
T0 = datetime(2025, 11, 15, 15, 0, tzinfo=UTC)  # 10:00 in New York, 16:00 in Paris


def alert(severity: Severity = Severity.WARNING, alert_id: str = "alert-1") -> Alert:
    return Alert(
        alert_id=alert_id,
        organization_id=ORG,
        rule_id="rule-temp-high",
        rule_name="High Temperature Alert",
        device_id="dev-abc123",
        device_name="Office-Temp-Sensor-1",
        severity=severity,
        condition="temperature > 40",
        actual_value=42.5,
        threshold=40,
        triggered_at=T0,
    )


def notice(
    severity: Severity = Severity.WARNING,
    channels: tuple[Channel, ...] = (Channel.EMAIL, Channel.PUSH, Channel.SMS),
    webhooks: tuple[str, ...] = (),
    alert_id: str = "alert-1",
) -> AlertNotice:
    return AlertNotice(alert(severity, alert_id), AlertActions(channels, webhooks))


def recipient(
    user_id: str = "user-1",
    *,
    email: str = "john@example.com",
    tokens: tuple[str, ...] = ("fcm-token-1",),
    phone: str | None = "+15555550100",
    email_on: bool | None = None,
    push_on: bool | None = None,
    sms_on: bool | None = True,
    quiet: QuietHours | None = None,
) -> Recipient:
    return Recipient(
        user_id=user_id,
        name="John Doe",
        email=email,
        channels=ChannelPreferences(email_on, push_on, sms_on),
        quiet_hours=quiet or QuietHours(),
        device_tokens=tokens,
        phone_number=phone,
    )


NIGHT_IN_NEW_YORK = QuietHours(enabled=True, start="22:00", end="08:00", timezone="America/New_York")
