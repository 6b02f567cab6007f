"""The monthly usage report (spec §6.4 "Send to admins via email"): one email per organization, month and
admin, whatever the severity routing would add (email only), and not held back by quiet hours (a suppressed
delivery is final: the report would never arrive)."""

from __future__ import annotations

from datetime import datetime

from services.notification.domain.model import AlertActions, Channel, UsageNotice

USAGE_ACTIONS = AlertActions(channels=(Channel.EMAIL,), ignore_quiet_hours=True)


def usage_notice(
    organization_id: str,
    month: str,
    data_bytes: float,
    messages: float,
    devices: int,
    api_calls: float,
    estimated_cost: float,
    currency: str,
    at: datetime,
) -> UsageNotice | None:
    """The notice of a stored report; None when it names no organization or month."""
    if not organization_id or not month:
        return None
    return UsageNotice(
        organization_id=organization_id,
        month=month,
        data_bytes=data_bytes,
        messages=messages,
        devices=devices,
        api_calls=api_calls,
        estimated_cost=estimated_cost,
        currency=currency or "USD",
        occurred_at=at,
    )
