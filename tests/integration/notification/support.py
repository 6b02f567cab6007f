"""Real local servers and builders shared by the notification integration tests."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from iot.alerting.v1 import alerting_pb2, events_pb2
from iot.common.v1 import common_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notification.domain.model import ChannelPreferences, QuietHours, Recipient
from tests.support.uvicorn import serving_app

ORG = "org-notify"
TRIGGERED_AT = datetime(2025, 11, 15, 15, 0, tzinfo=UTC)


class FakeUserDirectory:
    def __init__(self, users: list[Recipient]):
        self.users = users
        self.calls = 0

    async def users_to_notify(self, organization_id: str) -> list[Recipient]:
        self.calls += 1
        return list(self.users)


def user(
    user_id: str,
    *,
    sms: bool | None = None,
    tokens: tuple[str, ...] = (),
    phone: str | None = None,
    quiet: QuietHours | None = None,
) -> Recipient:
    return Recipient(
        user_id=user_id,
        name=f"User {user_id}",
        email=f"{user_id}@example.com",
        channels=ChannelPreferences(sms=sms),
        quiet_hours=quiet or QuietHours(),
        device_tokens=tokens,
        phone_number=phone,
    )


def alert_triggered(
    alert_id: str = "alert-1",
    *,
    severity: str = "warning",
    channels: tuple[str, ...] = ("email", "push", "sms"),
    webhooks: tuple[str, ...] = (),
    organization_id: str = ORG,
) -> events_pb2.AlertTriggered:
    alert = alerting_pb2.Alert(
        alert_id=alert_id,
        rule_id="rule-temp-high",
        rule_name="High Temperature Alert",
        device_id="dev-abc123",
        device_name="Office-Temp-Sensor-1",
        severity=severity,
        status="triggered",
        condition="temperature > 40",
        actual_value=42.5,
        threshold=40,
        organization_id=organization_id,
    )
    alert.triggered_at.FromDatetime(TRIGGERED_AT)
    actions = alerting_pb2.RuleActions(
        notifications=list(channels), webhooks=[alerting_pb2.Webhook(url=u) for u in webhooks]
    )
    return events_pb2.AlertTriggered(
        meta=common_pb2.EventMeta(event_id=f"evt-{alert_id}", organization_id=organization_id),
        alert=alert,
        actions=actions,
    )


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """uvicorn serving `app` on a free port in this event loop; yields its base URL."""
    async with serving_app(app) as url:
        yield url


@dataclass
class WebhookReceiver:
    """Checks each POST's signature; answers the next status in `script` (then 200)."""

    secret: bytes
    script: list[int] = field(default_factory=list)
    calls: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    valid_signatures: int = 0

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.calls.append((body, headers))
            expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, headers.get("x-iotmon-signature", "")):
                self.valid_signatures += 1
            else:
                return Response("bad signature", status_code=401)
            status = self.script.pop(0) if self.script else 200
            return Response("ok" if status < 300 else "no", status_code=status)

        return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])
