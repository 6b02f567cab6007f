"""An in-memory DeliveryLog: a supported adapter for tests and throwaway runs, held to the same contract."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.kernel.pagination import Page, PageRequest
from services.notification.domain.model import Delivery, DeliveryFilter, DeliveryOutcome, DeliveryStatus

_TAKEABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class InMemoryDeliveryLog:
    def __init__(self) -> None:
        self.rows: dict[str, Delivery] = {}

    async def close(self) -> None:
        return None

    async def insert_if_absent(self, delivery: Delivery) -> tuple[Delivery, bool]:
        key = _key(delivery)
        existing = self.rows.get(delivery.delivery_id) or next((d for d in self.rows.values() if _key(d) == key), None)
        if existing is not None:
            return existing, False
        self.rows[delivery.delivery_id] = delivery
        return delivery, True

    async def get(self, delivery_id: str) -> Delivery | None:
        return self.rows.get(delivery_id)

    async def take(
        self, delivery_id: str, *, expected_token: str, token: str, owner: str, lease_until: datetime
    ) -> Delivery | None:
        row = self.rows.get(delivery_id)
        if row is None or row.claim_token != expected_token or row.status not in _TAKEABLE:
            return None
        taken = replace(
            row,
            status=DeliveryStatus.PENDING,
            owner=owner,
            lease_until=lease_until,
            claim_token=token,
            attempts=row.attempts + 1,
            handed_over_at=None,
        )
        self.rows[delivery_id] = taken
        return taken

    async def hand_over(self, delivery_id: str, *, token: str, at: datetime, content: str) -> bool:
        row = self.rows.get(delivery_id)
        if row is None or row.claim_token != token or row.status is not DeliveryStatus.PENDING:
            return False
        self.rows[delivery_id] = replace(row, handed_over_at=at, content=content)
        return True

    async def finish(self, delivery_id: str, *, token: str, outcome: DeliveryOutcome) -> Delivery | None:
        row = self.rows.get(delivery_id)
        if row is None or row.claim_token != token or row.status is not DeliveryStatus.PENDING:
            return None
        done = replace(
            row,
            status=outcome.status,
            error=outcome.error,
            retryable=outcome.retryable,
            attempts=row.attempts + outcome.extra_attempts,
            sent_at=outcome.sent_at,
            content=outcome.content,
            lease_until=None,
        )
        self.rows[delivery_id] = done
        return done

    async def page(self, where: DeliveryFilter, page: PageRequest) -> Page[Delivery]:
        matching = sorted(
            (
                d
                for d in self.rows.values()
                if d.organization_id == where.organization_id
                and where.alert_id in (None, d.alert_id)
                and where.channel in (None, d.channel)
                and where.status in (None, d.status)
            ),
            key=lambda d: (d.created_at, d.delivery_id),
            reverse=True,
        )
        return Page(matching[page.offset : page.offset + page.page_size], page, len(matching))


def _key(d: Delivery) -> tuple[str, str, str, str]:
    return (d.alert_id, d.user_id, d.channel.value, d.target)
