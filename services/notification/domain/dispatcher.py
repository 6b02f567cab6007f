"""The dispatcher use case (spec §4.4): one alert → the deliveries it calls for, sent in parallel, each
recorded once in the delivery log (domain/claims.py says when a row may be sent again)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta

from services.kernel.clock import Clock, SystemClock
from services.notification.domain.claims import Verdict, verdict
from services.notification.domain.errors import DeliveriesIncomplete, DeliveryFailed
from services.notification.domain.firmware_notices import ADMIN_ACTIONS, admins_of
from services.notification.domain.messages import SendReceipt
from services.notification.domain.model import (
    Alert,
    AlertActions,
    AlertNotice,
    Channel,
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    FirmwareNotice,
    Recipient,
    Subject,
    UsageNotice,
)
from services.notification.domain.plan import PlannedDelivery, plan_for
from services.notification.domain.usage_notices import USAGE_ACTIONS
from services.notification.ports import DeliveryEvents, DeliveryLog, Renderer, Senders, UserDirectory

log = logging.getLogger("iotmon.notification")

Send = Callable[[], Awaitable[SendReceipt]]


@dataclass(frozen=True)
class DispatchSettings:
    # Stable per worker (and across its restarts), so a restarted worker takes back its own pending rows.
    owner: str = "notification"
    # How long a claim holds a row; longer than the slowest channel's timeout.
    lease_seconds: float = 60.0
    max_attempts: int = 6
    # Seconds one send may take, per channel (a webhook's includes its retries).
    timeouts: dict[Channel, float] = field(
        default_factory=lambda: {Channel.EMAIL: 15.0, Channel.PUSH: 10.0, Channel.SMS: 10.0, Channel.WEBHOOK: 30.0}
    )
    # Sends in flight at once in this worker, over all alerts: mail servers cap connections per client, and
    # a crowded event loop would widen the crash window between a channel's acceptance and its record.
    concurrency: int = 16
    poll_seconds: float = 0.5


class ClaimLost(Exception):
    """The claim's lease ran out and another worker took the row: this one must not send."""


class NotificationDispatcher:
    def __init__(
        self,
        directory: UserDirectory,
        deliveries: DeliveryLog,
        renderer: Renderer,
        senders: Senders,
        events: DeliveryEvents,
        settings: DispatchSettings | None = None,
        clock: Clock | None = None,
    ):
        self._directory = directory
        self._log = deliveries
        self._renderer = renderer
        self._senders = senders
        self._events = events
        self._settings = settings or DispatchSettings()
        self._clock = clock or SystemClock()
        self._in_flight: set[str] = set()
        self._gate = asyncio.Semaphore(self._settings.concurrency)

    async def dispatch(self, notice: AlertNotice) -> list[Delivery]:
        """Deliver what the alert calls for; the final row of every planned delivery.

        Raises DeliveriesIncomplete when some failed in a retryable way, so the bus redelivers the event.
        """
        alert = notice.alert
        recipients = await self._directory.users_to_notify(alert.organization_id) if notice.actions.channels else []
        return await self._dispatch(alert, notice.actions, recipients)

    async def notify_admins(self, notice: FirmwareNotice | UsageNotice) -> list[Delivery]:
        """Tell the organization's admins about a firmware event (domain/firmware_notices.py) or email them
        the monthly usage report (domain/usage_notices.py), once per notice, admin and channel; raises
        DeliveriesIncomplete as dispatch does."""
        users = await self._directory.users_to_notify(notice.organization_id)
        actions = USAGE_ACTIONS if isinstance(notice, UsageNotice) else ADMIN_ACTIONS
        return await self._dispatch(notice, actions, admins_of(users))

    async def _dispatch(self, subject: Subject, actions: AlertActions, recipients: list[Recipient]) -> list[Delivery]:
        planned = plan_for(subject, actions, recipients, self._clock.now())
        rows = list(await asyncio.gather(*(self._deliver(subject, p) for p in planned)))
        retry = [
            r.delivery_id
            for r in rows
            if r.status is DeliveryStatus.FAILED and r.retryable and r.attempts < self._settings.max_attempts
        ]
        if retry:
            raise DeliveriesIncomplete(retry)
        return rows

    async def _deliver(self, alert: Subject, planned: PlannedDelivery) -> Delivery:
        now = self._clock.now()
        fresh = Delivery(
            delivery_id=planned.delivery_id,
            alert_id=alert.alert_id,
            organization_id=alert.organization_id,
            user_id=planned.user_id,
            channel=planned.channel,
            target=planned.target,
            status=DeliveryStatus.SUPPRESSED if planned.suppressed_reason else DeliveryStatus.PENDING,
            created_at=now,
            error=planned.suppressed_reason,
        )
        row, created = await self._log.insert_if_absent(fresh)
        if created and row.status is DeliveryStatus.SUPPRESSED:
            await self._events.delivered(row)
            return row
        # The slot is taken before the claim, so that a claim's lease never runs while it waits for one.
        async with self._gate:
            taken = await self._claim(row)
            if taken is not None:
                self._in_flight.add(taken.delivery_id)
                try:
                    return await self._send(alert, planned, taken)
                finally:
                    self._in_flight.discard(taken.delivery_id)
        final = await self._log.get(row.delivery_id) or row
        # Announced again: the first announcement may have been lost with a crash right after the row was
        # recorded, and the listeners (alerting's notificationsSent) are idempotent.
        if final.status is not DeliveryStatus.PENDING:
            await self._events.delivered(final)
        return final

    async def _claim(self, row: Delivery) -> Delivery | None:
        """The row claimed by this worker, or None when it needs nothing more (final, or done elsewhere)."""
        settings = self._settings
        while True:
            now = self._clock.now()
            decision = verdict(
                row, owner=settings.owner, in_flight=self._in_flight, now=now, max_attempts=settings.max_attempts
            )
            if decision is Verdict.DONE:
                return None
            if decision is Verdict.CONFIRM:
                await self._confirm(row)
                return None
            if decision is Verdict.TAKE:
                taken = await self._log.take(
                    row.delivery_id,
                    expected_token=row.claim_token,
                    token=secrets.token_hex(8),
                    owner=settings.owner,
                    lease_until=now + timedelta(seconds=settings.lease_seconds),
                )
                if taken is not None:
                    return taken
            else:
                await asyncio.sleep(settings.poll_seconds)
            current = await self._log.get(row.delivery_id)
            if current is None:
                return None
            row = current

    async def _confirm(self, row: Delivery) -> None:
        """Record as sent a row whose message was handed over by a claim that never finished (a crash)."""
        confirmed = await self._log.finish(
            row.delivery_id,
            token=row.claim_token,
            outcome=DeliveryOutcome(DeliveryStatus.SENT, sent_at=row.handed_over_at, content=row.content),
        )
        if confirmed is not None:
            log.warning(
                "delivery confirmed after a crash: handed over, never answered",
                extra={"deliveryId": row.delivery_id, "owner": row.owner},
            )

    async def _send(self, alert: Subject, planned: PlannedDelivery, row: Delivery) -> Delivery:
        stored: dict[str, object] = {}
        try:
            stored, attempt = self._prepare(alert, planned, row)
            timeout = self._settings.timeouts.get(planned.channel, 30.0)
            # asyncio.timeout, not wait_for: no extra task, so the row is recorded in the very step in
            # which the channel's acceptance arrives.
            async with asyncio.timeout(timeout):
                receipt = await attempt()
            status, error, retryable, extra = DeliveryStatus.SENT, None, False, receipt.attempts - 1
            if receipt.note:
                stored["receipt"] = receipt.note
        except DeliveryFailed as failure:
            status, error, retryable = DeliveryStatus.FAILED, failure.message, failure.retryable
            extra = max(failure.attempts - 1, 0)
        except ClaimLost:
            status, error, retryable, extra = DeliveryStatus.FAILED, "claim lost before hand-over", True, 0
        except TimeoutError:
            status, error, retryable, extra = DeliveryStatus.FAILED, "timed out", True, 0
        except Exception as unexpected:  # a bug in a template or an adapter must not block the other deliveries
            log.exception("delivery failed unexpectedly", extra={"deliveryId": row.delivery_id})
            status, error, retryable, extra = DeliveryStatus.FAILED, f"internal error: {unexpected!r}", False, 0
        outcome = DeliveryOutcome(
            status=status,
            error=error,
            retryable=retryable,
            extra_attempts=extra,
            sent_at=self._clock.now() if status is DeliveryStatus.SENT else None,
            content=json.dumps(stored, ensure_ascii=False, separators=(",", ":")),
        )
        finished = await self._log.finish(row.delivery_id, token=row.claim_token, outcome=outcome)
        if finished is None:
            log.warning("delivery claim lost before it finished", extra={"deliveryId": row.delivery_id})
            return await self._log.get(row.delivery_id) or replace(row, status=status, error=error)
        await self._events.delivered(finished)
        return finished

    def _prepare(self, alert: Subject, planned: PlannedDelivery, row: Delivery) -> tuple[dict[str, object], Send]:
        """The rendered message as the log keeps it, and the call that sends it."""
        senders, renderer, delivery_id = self._senders, self._renderer, planned.delivery_id
        if planned.channel is Channel.WEBHOOK:
            assert isinstance(alert, Alert)  # webhooks belong to alert rules; admin notices plan none
            hook, url = renderer.webhook(alert, delivery_id), planned.target
            return {"to": url, **asdict(hook)}, lambda: senders.webhook.send(url, hook, delivery_id)
        user = planned.recipient
        assert user is not None  # user channels always carry their recipient
        if planned.channel is Channel.EMAIL:
            email, address = renderer.email(alert, user), user.email
            stored: dict[str, object] = {"to": address, **asdict(email)}

            async def hand_over() -> None:
                content = json.dumps(stored, ensure_ascii=False, separators=(",", ":"))
                at = self._clock.now()
                if not await self._log.hand_over(delivery_id, token=row.claim_token, at=at, content=content):
                    raise ClaimLost(delivery_id)

            return stored, lambda: senders.email.send(address, email, delivery_id, hand_over)
        if planned.channel is Channel.PUSH:
            push = renderer.push(alert, user)
            tokens = user.device_tokens
            return {"tokens": len(tokens), **asdict(push)}, lambda: senders.push.send(tokens, push, delivery_id)
        sms = renderer.sms(alert, user)
        phone = user.phone_number or ""
        return {"to": phone, **asdict(sms)}, lambda: senders.sms.send(phone, sms)
