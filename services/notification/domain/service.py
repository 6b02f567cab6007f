"""The delivery log as the API shows it (ListDeliveries, admin only, one organization)."""

from __future__ import annotations

from typing import TypeVar

from services.kernel.caller import Caller, Role
from services.kernel.errors import ValidationFailed
from services.kernel.pagination import Page, PageRequest
from services.notification.domain.model import Channel, Delivery, DeliveryFilter, DeliveryStatus
from services.notification.ports import DeliveryLog

E = TypeVar("E", Channel, DeliveryStatus)


class DeliveryQueries:
    def __init__(self, deliveries: DeliveryLog):
        self._log = deliveries

    async def list_deliveries(
        self,
        caller: Caller,
        *,
        alert_id: str | None = None,
        channel: str | None = None,
        status: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> Page[Delivery]:
        caller.require(Role.ADMIN, "listing notification deliveries")
        request = PageRequest.parse(page, page_size)
        where = DeliveryFilter(
            organization_id=caller.organization_id,
            alert_id=alert_id or None,
            channel=_parse(Channel, "channel", channel),
            status=_parse(DeliveryStatus, "status", status),
        )
        return await self._log.page(where, request)


def _parse(kind: type[E], field_name: str, value: str | None) -> E | None:
    if not value:
        return None
    try:
        return kind(value.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValidationFailed.of_field(field_name, f"must be one of {allowed}, got {value!r}") from None
