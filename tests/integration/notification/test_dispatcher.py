"""The dispatcher end to end on an InProcessBus: alert events in, email over a real SMTP server, webhooks
over HTTP, push and SMS to the outbox, every delivery logged once and announced on notification.delivered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from iot.notification.v1 import events_pb2

from services.kernel.pagination import PageRequest
from services.notification.adapters.bus_events import (
    ALERT_TRIGGERED,
    DELIVERED,
    BusDeliveryEvents,
    notice_from_event,
    subscribe_to_alerts,
)
from services.notification.adapters.delivery_log_sqlite import SqliteDeliveryLog
from services.notification.adapters.email_smtp import SmtpEmailSender, SmtpServer
from services.notification.adapters.outbox import OutboxPushSender, OutboxSmsSender
from services.notification.adapters.templates import JinjaRenderer
from services.notification.adapters.webhook_http import HttpWebhookSender
from services.notification.domain.dispatcher import DispatchSettings, NotificationDispatcher
from services.notification.domain.errors import DeliveriesIncomplete
from services.notification.domain.model import Channel, Delivery, DeliveryFilter, DeliveryStatus, QuietHours
from services.notification.domain.plan import delivery_id
from services.notification.ports import Senders
from services.runtime.bus import InProcessBus
from tests.integration.notification.support import (
    FakeUserDirectory,
    WebhookReceiver,
    alert_triggered,
    serving,
    user,
)
from tests.support.smtp import SmtpInbox

SECRET = b"s3cret"
# 03:00 in New York: inside 22:00–08:00.
NIGHT = QuietHours(enabled=True, start="22:00", end="08:00", timezone="America/New_York")
NIGHT_INSTANT = datetime(2025, 11, 15, 8, 0, tzinfo=UTC)
TRIGGERED = datetime(2025, 11, 15, 15, 0, 5, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime | None = None):
        self.at = now

    def now(self) -> datetime:
        return self.at or datetime.now(UTC)


@dataclass
class World:
    bus: InProcessBus
    dispatcher: NotificationDispatcher
    log: SqliteDeliveryLog
    directory: FakeUserDirectory
    smtp: SmtpInbox
    hooks: WebhookReceiver
    hook_url: str
    delivered: list[events_pb2.NotificationDelivered]
    clock: FixedClock

    async def publish(self, **kwargs: object) -> None:
        await self.bus.publish(ALERT_TRIGGERED, alert_triggered(**kwargs))  # type: ignore[arg-type]

    async def rows(self) -> dict[tuple[str, str], Delivery]:
        rows: dict[tuple[str, str], Delivery] = {}
        for row in self.log._db.execute("SELECT delivery_id FROM deliveries").fetchall():
            delivery = await self.log.get(row[0])
            assert delivery is not None
            rows[(delivery.user_id or delivery.target, delivery.channel.value)] = delivery
        return rows

    def dispatcher_named(self, owner: str, **settings: object) -> NotificationDispatcher:
        return NotificationDispatcher(
            self.directory,
            self.log,
            JinjaRenderer(),
            self.dispatcher._senders,
            BusDeliveryEvents(self.bus),
            DispatchSettings(owner=owner, **settings),  # type: ignore[arg-type]
            self.clock,
        )


@pytest.fixture
async def world(smtp: SmtpInbox, tmp_path: Path) -> AsyncIterator[World]:
    bus = InProcessBus()
    directory = FakeUserDirectory(
        [
            user("alice", sms=True, tokens=("fcm-a",), phone="+15555550100"),
            user("bob"),  # no token, no phone, default preferences
        ]
    )
    log = SqliteDeliveryLog(tmp_path / "notification.db")
    hooks = WebhookReceiver(SECRET)
    clock = FixedClock()
    async with httpx.AsyncClient() as client, serving(hooks.app()) as base:
        senders = Senders(
            email=SmtpEmailSender(SmtpServer.from_url(smtp.url), "alerts@iotmon.example", timeout_seconds=5),
            push=OutboxPushSender(),
            sms=OutboxSmsSender(),
            webhook=HttpWebhookSender(client, SECRET, backoff_seconds=0.01, backoff_max_seconds=0.02),
        )
        dispatcher = NotificationDispatcher(
            directory,
            log,
            JinjaRenderer("https://console.example.com"),
            senders,
            BusDeliveryEvents(bus),
            DispatchSettings(owner="worker-1", poll_seconds=0.05),
            clock,
        )
        subscribe_to_alerts(bus, dispatcher.dispatch)
        delivered: list[events_pb2.NotificationDelivered] = []

        async def collect(_: str, payload: bytes) -> None:
            delivered.append(events_pb2.NotificationDelivered.FromString(payload))

        bus.subscribe(DELIVERED, collect, group="alerting")
        yield World(bus, dispatcher, log, directory, smtp, hooks, f"{base}/hooks/ops", delivered, clock)
        await log.close()


async def test_one_critical_alert_reaches_every_user_on_every_channel_they_can_receive(world: World) -> None:
    await world.publish(severity="critical", webhooks=(world.hook_url,))

    rows = await world.rows()
    statuses = {key: (row.status.value, row.error) for key, row in rows.items()}
    assert statuses == {
        ("alice", "email"): ("sent", None),
        ("alice", "push"): ("sent", None),
        ("alice", "sms"): ("sent", None),
        ("bob", "email"): ("sent", None),
        ("bob", "push"): ("suppressed", "no push device token registered"),
        ("bob", "sms"): ("suppressed", "sms turned off in the user's preferences"),
        (world.hook_url, "webhook"): ("sent", None),
    }
    assert sorted(str(m["To"]) for m in world.smtp.messages) == ["alice@example.com", "bob@example.com"]
    [alice_mail] = world.smtp.to("alice@example.com")
    assert alice_mail["Subject"] == "[CRITICAL] High Temperature Alert on Office-Temp-Sensor-1"
    assert alice_mail["Message-ID"] == f"<{delivery_id('alert-1', 'alice', Channel.EMAIL)}@iotmon.example>"
    [(body, headers)] = world.hooks.calls
    assert json.loads(body)["alert"]["alertId"] == "alert-1"
    assert headers["x-iotmon-delivery"] == rows[(world.hook_url, "webhook")].delivery_id
    assert rows[(world.hook_url, "webhook")].user_id == ""
    # The outbox keeps what would have gone out.
    sms = json.loads(rows[("alice", "sms")].content)
    assert (sms["to"], sms["receipt"]) == ("+15555550100", "outbox")
    assert sms["text"].startswith("iotmon CRITICAL")
    # Every outcome is announced, with the alert and channel alerting needs for notificationsSent.
    announced = {(e.delivery.user_id, e.delivery.channel, e.delivery.status) for e in world.delivered}
    assert announced == {(r.user_id, r.channel.value, r.status.value) for r in rows.values()}
    assert {e.meta.organization_id for e in world.delivered} == {"org-notify"}


async def test_the_severity_and_the_rule_bound_the_channels(world: World) -> None:
    await world.publish(alert_id="alert-info", severity="info")
    await world.publish(alert_id="alert-push", severity="critical", channels=("push",))
    rows = await world.log.page(DeliveryFilter("org-notify"), PageRequest(1, 50))
    kinds = sorted((d.alert_id, d.user_id, d.channel.value) for d in rows.items)
    assert kinds == [
        ("alert-info", "alice", "email"),
        ("alert-info", "bob", "email"),
        ("alert-push", "alice", "push"),
        ("alert-push", "bob", "push"),
    ]


async def test_the_same_event_delivered_twice_sends_each_channel_once(world: World) -> None:
    event = {"severity": "critical", "webhooks": (world.hook_url,)}
    await world.publish(**event)
    first = await world.rows()
    announced = len(world.delivered)
    await world.publish(**event)
    await world.dispatcher.dispatch(notice_from_event(alert_triggered(**event).SerializeToString()))  # type: ignore[arg-type]

    assert len(world.smtp.messages) == 2
    assert len(world.hooks.calls) == 1
    assert await world.rows() == first
    assert all(row.attempts <= 1 for row in first.values())
    # Announced again, identically (a crash may have lost the first announcement; listeners are idempotent).
    again = world.delivered[announced:]
    assert len(again) == 2 * announced
    assert {e.delivery.SerializeToString() for e in again} == {
        e.delivery.SerializeToString() for e in world.delivered[:announced]
    }


async def test_quiet_hours_suppress_a_warning_but_not_a_critical_alert(world: World) -> None:
    world.directory.users = [user("night-owl", quiet=NIGHT)]
    world.clock.at = NIGHT_INSTANT
    await world.publish(alert_id="alert-warning", severity="warning", channels=("email",))
    await world.publish(alert_id="alert-critical", severity="critical", channels=("email",))
    warning = await world.log.get(delivery_id("alert-warning", "night-owl", Channel.EMAIL))
    critical = await world.log.get(delivery_id("alert-critical", "night-owl", Channel.EMAIL))
    assert warning is not None
    assert critical is not None
    assert (warning.status, warning.error) == (DeliveryStatus.SUPPRESSED, "quiet hours (22:00-08:00 America/New_York)")
    assert critical.status is DeliveryStatus.SENT
    assert [str(m["Subject"]).split("]")[0] for m in world.smtp.messages] == ["[CRITICAL"]


async def claim_as(world: World, owner: str, planned_id: str, lease_seconds: float) -> None:
    """A pending row as a worker that crashed mid-send leaves it: claimed, never finished."""
    row = Delivery(
        planned_id, "alert-1", "org-notify", "alice", Channel.EMAIL, "", DeliveryStatus.PENDING, datetime.now(UTC)
    )
    await world.log.insert_if_absent(row)
    until = datetime.now(UTC) + timedelta(seconds=lease_seconds)
    assert await world.log.take(planned_id, expected_token="", token="dead", owner=owner, lease_until=until)


async def test_a_restarted_worker_resends_its_own_pending_row_at_once(world: World) -> None:
    alice_email = delivery_id("alert-1", "alice", Channel.EMAIL)
    await claim_as(world, "worker-1", alice_email, lease_seconds=3600)
    await world.publish(channels=("email",))
    row = await world.log.get(alice_email)
    assert row is not None
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)
    assert len(world.smtp.to("alice@example.com")) == 1


async def test_a_pending_row_of_another_worker_is_taken_over_when_its_lease_runs_out(world: World) -> None:
    alice_email = delivery_id("alert-1", "alice", Channel.EMAIL)
    await claim_as(world, "worker-gone", alice_email, lease_seconds=0.3)
    await world.publish(channels=("email",))
    row = await world.log.get(alice_email)
    assert row is not None
    assert (row.status, row.owner) == (DeliveryStatus.SENT, "worker-1")
    assert len(world.smtp.to("alice@example.com")) == 1


async def test_a_retryable_failure_asks_for_redelivery_and_the_retry_sends_once(world: World) -> None:
    world.smtp.defer.add("alice@example.com")
    notice = notice_from_event(alert_triggered(channels=("email",)).SerializeToString())
    with pytest.raises(DeliveriesIncomplete) as incomplete:
        await world.dispatcher.dispatch(notice)
    alice_email = delivery_id("alert-1", "alice", Channel.EMAIL)
    assert incomplete.value.delivery_ids == [alice_email]
    failed = await world.log.get(alice_email)
    assert failed is not None
    assert (failed.status, failed.retryable, failed.attempts) == (DeliveryStatus.FAILED, True, 1)
    assert "451" in (failed.error or "")

    world.smtp.defer.clear()
    rows = await world.dispatcher.dispatch(notice)
    by_user = {r.user_id: r for r in rows}
    assert (by_user["alice"].status, by_user["alice"].attempts) == (DeliveryStatus.SENT, 2)
    assert by_user["bob"].attempts == 1  # sent the first time, not again
    assert len(world.smtp.to("bob@example.com")) == 1
    assert len(world.smtp.to("alice@example.com")) == 1


async def test_a_permanent_failure_is_final(world: World) -> None:
    world.smtp.refuse.add("bob@example.com")
    await world.publish(channels=("email",))
    await world.publish(channels=("email",))
    bob = await world.log.get(delivery_id("alert-1", "bob", Channel.EMAIL))
    assert bob is not None
    assert (bob.status, bob.retryable, bob.attempts) == (DeliveryStatus.FAILED, False, 1)
    failed = [e.delivery for e in world.delivered if e.delivery.status == "failed"]
    assert {(d.user_id, d.channel, d.attempts) for d in failed} == {("bob", "email", 1)}  # announced twice
    assert "550" in failed[0].error


async def test_two_workers_handling_one_event_at_once_send_once(world: World) -> None:
    other = world.dispatcher_named("worker-2", poll_seconds=0.05)
    notice = notice_from_event(alert_triggered(severity="critical", webhooks=(world.hook_url,)).SerializeToString())
    first, second = await asyncio.gather(world.dispatcher.dispatch(notice), other.dispatch(notice))
    assert len(world.smtp.messages) == 2
    assert len(world.hooks.calls) == 1
    assert first == second  # both end with the rows as the log keeps them


async def test_a_row_handed_over_before_a_crash_is_confirmed_without_mailing_again(world: World) -> None:
    alice_email = delivery_id("alert-1", "alice", Channel.EMAIL)
    await claim_as(world, "worker-1", alice_email, lease_seconds=3600)
    assert await world.log.hand_over(alice_email, token="dead", at=TRIGGERED, content='{"to":"alice@example.com"}')
    await world.publish(channels=("email",))
    row = await world.log.get(alice_email)
    assert row is not None
    assert (row.status, row.sent_at, row.attempts) == (DeliveryStatus.SENT, TRIGGERED, 1)
    assert world.smtp.to("alice@example.com") == []
    assert len(world.smtp.to("bob@example.com")) == 1
    assert ("alice", "email", "sent") in {
        (e.delivery.user_id, e.delivery.channel, e.delivery.status) for e in world.delivered
    }


async def test_email_rows_record_the_hand_over_before_the_servers_answer(world: World) -> None:
    world.smtp.refuse_data.add("bob@example.com")
    await world.publish(channels=("email",))
    bob = await world.log.get(delivery_id("alert-1", "bob", Channel.EMAIL))
    alice = await world.log.get(delivery_id("alert-1", "alice", Channel.EMAIL))
    assert bob is not None
    assert alice is not None
    # Refused after the data: handed over, yet failed, because the server answered.
    assert (bob.status, bob.retryable) == (DeliveryStatus.FAILED, False)
    assert bob.handed_over_at is not None
    assert "554" in (bob.error or "")
    assert alice.handed_over_at is not None
    assert alice.status is DeliveryStatus.SENT
