"""The Renderer on Jinja2 templates packaged in services/notification/templates/.

HTML templates are autoescaped (a device named `<script>` stays text); the webhook body is JSON built with
`tojson` and re-serialised compactly, so what is signed is exactly what is sent.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notification.domain.messages import EmailContent, PushContent, SmsContent, WebhookContent, fit_sms
from services.notification.domain.model import Alert, Recipient
from services.notification.domain.quiet_hours import zone


class JinjaRenderer:
    def __init__(self, console_url: str = "http://127.0.0.1:8080"):
        self._console_url = console_url.rstrip("/")
        self._env = Environment(
            loader=PackageLoader("services.notification", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )

    def email(self, alert: Alert, recipient: Recipient) -> EmailContent:
        context = self._context(alert, recipient)
        return EmailContent(
            subject=" ".join(self._render("email_subject.txt", context).split()),
            text=self._render("email_body.txt", context),
            html=self._render("email_body.html", context),
        )

    def push(self, alert: Alert, recipient: Recipient) -> PushContent:
        context = self._context(alert, recipient)
        return PushContent(
            title=self._render("push_title.txt", context).strip(), body=self._render("push_body.txt", context).strip()
        )

    def sms(self, alert: Alert, recipient: Recipient) -> SmsContent:
        return SmsContent(fit_sms(self._render("sms.txt", self._context(alert, recipient))))

    def webhook(self, alert: Alert, delivery_id: str) -> WebhookContent:
        rendered = self._render("webhook.json", {**self._context(alert, None), "delivery_id": delivery_id})
        return WebhookContent(orjson.dumps(orjson.loads(rendered)).decode())

    def link(self, alert: Alert) -> str:
        return f"{self._console_url}/alerts/{alert.alert_id}"

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return self._env.get_template(name).render(context)

    def _context(self, alert: Alert, recipient: Recipient | None) -> dict[str, Any]:
        local = ""
        if recipient is not None and recipient.quiet_hours.timezone not in ("", "UTC"):
            local = alert.triggered_at.astimezone(zone(recipient.quiet_hours.timezone)).strftime("%Y-%m-%d %H:%M %Z")
        return {
            "alert_id": alert.alert_id,
            "organization_id": alert.organization_id,
            "rule_id": alert.rule_id,
            "rule_name": alert.rule_name,
            "device_id": alert.device_id,
            "device_name": alert.device_name,
            "severity": alert.severity.value,
            "condition": alert.condition,
            "actual_value": _number(alert.actual_value),
            "threshold": _number(alert.threshold),
            "actual_value_number": alert.actual_value,
            "threshold_number": alert.threshold,
            "triggered_at": alert.triggered_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "triggered_local": local,
            "link": self.link(alert),
            "recipient_name": recipient.name if recipient else "",
        }


def _number(value: float) -> str:
    """42.5 → "42.5", 40.0 → "40": what a person expects to read."""
    return f"{value:g}"
