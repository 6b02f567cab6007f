"""The Renderer on Jinja2 templates packaged in services/notification/templates/.

Alerts use the plain names (email_subject.txt, …); firmware notices the same names prefixed `firmware_`,
usage reports `usage_` (email only).

HTML templates are autoescaped (a device named `<script>` stays text); the webhook body is JSON built with
`tojson` and re-serialised compactly, so what is signed is exactly what is sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notification.domain.messages import EmailContent, PushContent, SmsContent, WebhookContent, fit_sms
from services.notification.domain.model import Alert, FirmwareNotice, Recipient, Subject, UsageNotice
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

    def email(self, alert: Subject, recipient: Recipient) -> EmailContent:
        prefix, context = self._subject_context(alert, recipient)
        return EmailContent(
            subject=" ".join(self._render(f"{prefix}email_subject.txt", context).split()),
            text=self._render(f"{prefix}email_body.txt", context),
            html=self._render(f"{prefix}email_body.html", context),
        )

    def push(self, alert: Subject, recipient: Recipient) -> PushContent:
        prefix, context = self._subject_context(alert, recipient)
        return PushContent(
            title=self._render(f"{prefix}push_title.txt", context).strip(),
            body=self._render(f"{prefix}push_body.txt", context).strip(),
        )

    def sms(self, alert: Subject, recipient: Recipient) -> SmsContent:
        prefix, context = self._subject_context(alert, recipient)
        return SmsContent(fit_sms(self._render(f"{prefix}sms.txt", context)))

    def webhook(self, alert: Alert, delivery_id: str) -> WebhookContent:
        rendered = self._render("webhook.json", {**self._context(alert, None), "delivery_id": delivery_id})
        return WebhookContent(orjson.dumps(orjson.loads(rendered)).decode())

    def link(self, alert: Alert) -> str:
        return f"{self._console_url}/alerts/{alert.alert_id}"

    def firmware_link(self, notice: FirmwareNotice) -> str:
        if notice.deployment_id:
            return f"{self._console_url}/firmware/deployments/{notice.deployment_id}"
        return f"{self._console_url}/firmware/{notice.firmware_id}"

    def _subject_context(self, subject: Subject, recipient: Recipient) -> tuple[str, dict[str, Any]]:
        """The template name prefix and the context for an alert, a firmware notice or a usage report."""
        if isinstance(subject, FirmwareNotice):
            return "firmware_", self._firmware_context(subject, recipient)
        if isinstance(subject, UsageNotice):
            return "usage_", self._usage_context(subject, recipient)
        return "", self._context(subject, recipient)

    def _usage_context(self, notice: UsageNotice, recipient: Recipient) -> dict[str, Any]:
        return {
            "organization_id": notice.organization_id,
            "month": notice.month,
            "data_volume": _bytes(notice.data_bytes),
            "data_bytes": f"{int(notice.data_bytes):,}",
            "messages": f"{int(notice.messages):,}",
            "devices": f"{notice.devices:,}",
            "api_calls": f"{int(notice.api_calls):,}",
            "estimated_cost": f"{notice.estimated_cost:,.2f}",
            "currency": notice.currency,
            "link": f"{self._console_url}/analytics/usage?month={notice.month}",
            "recipient_name": recipient.name,
        }

    def _firmware_context(self, notice: FirmwareNotice, recipient: Recipient) -> dict[str, Any]:
        counts = notice.counts
        context: dict[str, Any] = {
            "kind": notice.kind.value,
            "severity": notice.severity.value,
            "organization_id": notice.organization_id,
            "firmware_id": notice.firmware_id,
            "firmware_version": notice.firmware_version,
            "deployment_id": notice.deployment_id,
            "reason": notice.reason,
            "total": counts.total if counts else 0,
            "succeeded": counts.succeeded if counts else 0,
            "failed": counts.failed if counts else 0,
            "occurred_at": notice.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "occurred_local": self._local(notice.occurred_at, recipient),
            "link": self.firmware_link(notice),
            "recipient_name": recipient.name,
        }
        # One line saying what happened, worded in its own template and shared by every channel's.
        context["headline"] = " ".join(self._render("firmware_headline.txt", context).split())
        return context

    @staticmethod
    def _local(at: datetime, recipient: Recipient | None) -> str:
        if recipient is None or recipient.quiet_hours.timezone in ("", "UTC"):
            return ""
        return at.astimezone(zone(recipient.quiet_hours.timezone)).strftime("%Y-%m-%d %H:%M %Z")

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return self._env.get_template(name).render(context)

    def _context(self, alert: Alert, recipient: Recipient | None) -> dict[str, Any]:
        local = self._local(alert.triggered_at, recipient)
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


def _bytes(value: float) -> str:
    """1234567 → "1.2 MB" (decimal units, as the price per GB counts them)."""
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _number(value: float) -> str:
    """42.5 → "42.5", 40.0 → "40": what a person expects to read."""
    return f"{value:g}"
