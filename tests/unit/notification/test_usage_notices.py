"""The monthly usage report for admins (§6.4): keyed usage:<org>:<month>, email only, not held back by quiet
hours, and the email names every quantity and the estimated cost."""

from __future__ import annotations

from dataclasses import replace

from iot.analytics.v1 import analytics_pb2, usage_events_pb2

from services.notification.adapters.templates import JinjaRenderer
from services.notification.adapters.usage_events import notice_from_usage
from services.notification.domain.firmware_notices import admins_of
from services.notification.domain.model import Channel, UsageNotice
from services.notification.domain.plan import delivery_id, plan_for
from services.notification.domain.usage_notices import USAGE_ACTIONS, usage_notice
from tests.unit.notification.support import NIGHT_IN_NEW_YORK, ORG, T0, recipient


def report() -> UsageNotice:
    notice = usage_notice(ORG, "2025-10", 1_234_567_890, 2_500_000, 42, 1_000_001, 12.34, "EUR", T0)
    assert notice is not None
    return notice


def test_the_notice_is_keyed_per_organization_and_month() -> None:
    assert report().alert_id == f"usage:{ORG}:2025-10"
    assert usage_notice("", "2025-10", 0, 0, 0, 0, 0, "USD", T0) is None
    assert usage_notice(ORG, "", 0, 0, 0, 0, 0, "USD", T0) is None


def test_admins_get_it_by_email_only_even_in_quiet_hours() -> None:
    admin = replace(recipient("user-a", sms_on=True, quiet=NIGHT_IN_NEW_YORK), role="admin")
    night = T0.replace(hour=7)  # 02:00 in New York
    planned = plan_for(report(), USAGE_ACTIONS, admins_of([admin, replace(recipient("user-v"), role="viewer")]), night)
    assert [(p.user_id, p.channel, p.suppressed_reason) for p in planned] == [("user-a", Channel.EMAIL, None)]
    assert planned[0].delivery_id == delivery_id(f"usage:{ORG}:2025-10", "user-a", Channel.EMAIL)


def test_the_email_names_each_quantity_and_the_cost() -> None:
    email = JinjaRenderer("https://console.example.com/").email(report(), replace(recipient(), role="admin"))
    assert email.subject == f"Usage report 2025-10: EUR 12.34 estimated ({ORG})"
    for text in (email.text, email.html):
        for expected in ("1.2 GB", "1,234,567,890", "2,500,000", "42", "1,000,001", "EUR 12.34", "2025-10"):
            assert expected in text


def test_the_event_becomes_the_notice() -> None:
    event = usage_events_pb2.UsageReported(
        usage=analytics_pb2.GetUsageReportResponse(
            organization_id=ORG,
            month="2025-10",
            data_volume=1_234_567_890,
            messages=2_500_000,
            devices=42,
            api_calls=1_000_001,
            estimated_cost=12.34,
            currency="EUR",
        )
    )
    event.meta.occurred_at.FromDatetime(T0)
    assert notice_from_usage(event.SerializeToString()) == report()
