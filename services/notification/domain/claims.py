"""When a worker may (re)send a delivery log row: the rule behind "once per alert, user and channel".

Before sending, a worker claims the row: it stays `pending` with the worker as owner until a lease runs
out. A redelivered event then finds the row and
- skips it when it is final: sent, suppressed, or failed for good (permanent, or out of attempts);
- retries it when it failed in a retryable way, or when it is pending but nobody is working on it: the
  lease ran out, or the owner is this very worker (same stable worker id) and the row is not in flight
  here — a pending row a crashed previous run of this worker left behind;
- waits while another live worker holds the lease (a duplicate event handled concurrently);
- confirms as sent, without sending again, a pending row whose message was already handed over (SMTP: the
  row was marked in the same step that wrote the message's final line, so a crash after the mark left a
  complete message with the server). Marking before that write turns the unavoidable crash window from
  "accepted but not recorded → sent twice" (the response's round trip plus event-loop latency, milliseconds)
  into "recorded but not written → lost" (one local commit and one write call, microseconds).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import Enum

from services.notification.domain.model import Delivery, DeliveryStatus


class Verdict(Enum):
    TAKE = "take"
    DONE = "done"
    WAIT = "wait"
    CONFIRM = "confirm"


def verdict(row: Delivery, *, owner: str, in_flight: Collection[str], now: datetime, max_attempts: int) -> Verdict:
    if row.status in (DeliveryStatus.SENT, DeliveryStatus.SUPPRESSED):
        return Verdict.DONE
    if row.status is DeliveryStatus.FAILED:
        return Verdict.TAKE if row.retryable and row.attempts < max_attempts else Verdict.DONE
    if not row.claim_token:
        return Verdict.TAKE
    abandoned = row.delivery_id not in in_flight if row.owner == owner else _expired(row, now)
    if not abandoned:
        return Verdict.WAIT
    if row.handed_over_at is not None:
        return Verdict.CONFIRM
    return Verdict.TAKE if row.owner == owner or row.attempts < max_attempts else Verdict.DONE


def _expired(row: Delivery, now: datetime) -> bool:
    return row.lease_until is None or row.lease_until <= now
