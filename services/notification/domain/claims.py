"""When a worker may (re)send a delivery log row: the rule behind "once per alert, user and channel".

Before sending, a worker claims the row: it stays `pending` with the worker as owner until a lease runs
out. A redelivered event then finds the row and
- skips it when it is final: sent, suppressed, or failed for good (permanent, or out of attempts);
- retries it when it failed in a retryable way, or when it is pending but nobody is working on it: the
  lease ran out, or the owner is this very worker (same stable worker id) and the row is not in flight
  here — a pending row a crashed previous run of this worker left behind;
- waits while another live worker holds the lease (a duplicate event handled concurrently).
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


def verdict(row: Delivery, *, owner: str, in_flight: Collection[str], now: datetime, max_attempts: int) -> Verdict:
    if row.status in (DeliveryStatus.SENT, DeliveryStatus.SUPPRESSED):
        return Verdict.DONE
    if row.status is DeliveryStatus.FAILED:
        return Verdict.TAKE if row.retryable and row.attempts < max_attempts else Verdict.DONE
    if not row.claim_token:
        return Verdict.TAKE
    if row.owner == owner:
        return Verdict.WAIT if row.delivery_id in in_flight else Verdict.TAKE
    if row.lease_until is None or row.lease_until <= now:
        return Verdict.TAKE if row.attempts < max_attempts else Verdict.DONE
    return Verdict.WAIT
