from __future__ import annotations

import json
from dataclasses import replace

from services.notification.adapters.templates import JinjaRenderer
from services.notification.domain.messages import SMS_MAX_LENGTH
from services.notification.domain.model import Severity
from tests.unit.notification.support import NIGHT_IN_NEW_YORK, alert, recipient

RENDERER = JinjaRenderer("https://console.example.com/")
LINK = "https://console.example.com/alerts/alert-1"


def test_the_email_names_the_rule_device_condition_value_and_link() -> None:
    email = RENDERER.email(alert(Severity.CRITICAL), recipient())
    assert email.subject == "[CRITICAL] High Temperature Alert on Office-Temp-Sensor-1"
    for part in ("Hello John Doe", "42.5 (threshold 40)", "2025-11-15T15:00:00Z", LINK):
        assert part in email.text
        assert part in email.html
    assert "temperature > 40" in email.text
    assert "temperature &gt; 40" in email.html


def test_the_email_shows_the_time_on_the_users_clock() -> None:
    email = RENDERER.email(alert(), recipient(quiet=NIGHT_IN_NEW_YORK))
    assert "(2025-11-15 10:00 EST)" in email.text


def test_html_escapes_what_devices_and_rules_are_named() -> None:
    hostile = replace(alert(), device_name="<script>alert(1)</script>", rule_name="A & B")
    email = RENDERER.email(hostile, recipient())
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert "A &amp; B" in email.html
    assert "<script>alert(1)</script>" in email.text  # plain text stays as written


def test_push_is_short_and_to_the_point() -> None:
    push = RENDERER.push(alert(Severity.WARNING), recipient())
    assert push.title == "Warning: High Temperature Alert"
    assert push.body == "Office-Temp-Sensor-1: temperature > 40 (now 42.5)"


def test_sms_fits_one_message_even_with_long_names() -> None:
    sms = RENDERER.sms(alert(Severity.CRITICAL), recipient())
    assert sms.text.startswith("iotmon CRITICAL: High Temperature Alert on Office-Temp-Sensor-1")
    assert sms.text.endswith(LINK)
    long = RENDERER.sms(replace(alert(), rule_name="R" * 300), recipient())
    assert len(long.text) == SMS_MAX_LENGTH


def test_the_webhook_body_is_compact_json_with_numbers_and_the_delivery_id() -> None:
    tricky = replace(alert(), device_name='Sensor "north" \\ <1>')
    body = RENDERER.webhook(tricky, "dlv-123").body
    payload = json.loads(body)
    assert payload["event"] == "alert.triggered"
    assert payload["deliveryId"] == "dlv-123"
    assert payload["alert"]["deviceName"] == 'Sensor "north" \\ <1>'
    assert payload["alert"]["actualValue"] == 42.5
    assert payload["alert"]["threshold"] == 40
    assert payload["alert"]["url"] == LINK
    assert "\n" not in body
