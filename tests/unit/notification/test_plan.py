from __future__ import annotations

from services.notification.domain.messages import SMS_MAX_LENGTH, fit_sms
from services.notification.domain.model import Channel, Severity
from services.notification.domain.plan import delivery_id, plan_deliveries
from tests.unit.notification.support import T0, notice, recipient


def test_one_delivery_per_user_and_channel_and_one_per_webhook() -> None:
    hooks = ("https://hooks.example.com/a", "https://hooks.example.com/b", "https://hooks.example.com/a")
    planned = plan_deliveries(
        notice(Severity.CRITICAL, webhooks=hooks), [recipient("user-1"), recipient("user-2"), recipient("user-1")], T0
    )
    keys = [(p.user_id, p.channel, p.target) for p in planned]
    assert keys == [
        ("user-1", Channel.EMAIL, ""),
        ("user-1", Channel.PUSH, ""),
        ("user-1", Channel.SMS, ""),
        ("user-2", Channel.EMAIL, ""),
        ("user-2", Channel.PUSH, ""),
        ("user-2", Channel.SMS, ""),
        ("", Channel.WEBHOOK, "https://hooks.example.com/a"),
        ("", Channel.WEBHOOK, "https://hooks.example.com/b"),
    ]
    assert len({p.delivery_id for p in planned}) == len(planned)


def test_delivery_ids_are_stable_and_distinguish_every_part_of_the_key() -> None:
    first = delivery_id("alert-1", "user-1", Channel.EMAIL)
    assert first == delivery_id("alert-1", "user-1", Channel.EMAIL)
    others = {
        delivery_id("alert-2", "user-1", Channel.EMAIL),
        delivery_id("alert-1", "user-2", Channel.EMAIL),
        delivery_id("alert-1", "user-1", Channel.PUSH),
        delivery_id("alert-1", "", Channel.WEBHOOK, "https://a"),
        delivery_id("alert-1", "", Channel.WEBHOOK, "https://b"),
    }
    assert first not in others
    assert len(others) == 5
    assert first.startswith("dlv-")


def test_webhooks_are_planned_without_users_even_when_no_user_channel_is_asked() -> None:
    planned = plan_deliveries(notice(channels=(), webhooks=("https://h",)), [recipient()], T0)
    assert [(p.channel, p.user_id, p.recipient) for p in planned] == [(Channel.WEBHOOK, "", None)]


def test_sms_text_fits_one_message() -> None:
    assert fit_sms("short\n text") == "short text"
    long = fit_sms("x" * 500)
    assert len(long) == SMS_MAX_LENGTH
    assert long.endswith("…")
