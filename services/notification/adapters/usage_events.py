"""The notification service on analytics.usage_reported (§6.4): the organization's admins get the month's usage
report by email (domain/usage_notices.py). Group "notification": the replicas share the events; a redelivered
or repeated report finds its deliveries in the log (key usage:<org>:<month>) and sends nothing twice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from iot.analytics.v1 import usage_events_pb2

from services.notification.domain.model import UsageNotice
from services.notification.domain.usage_notices import usage_notice
from services.runtime.bus import EventBus

log = logging.getLogger("iotmon.notification")

USAGE_REPORTED = "analytics.usage_reported"
GROUP = "notification"


def notice_from_usage(payload: bytes) -> UsageNotice | None:
    event = usage_events_pb2.UsageReported.FromString(payload)
    usage = event.usage
    stamp = event.meta.occurred_at
    at = stamp.ToDatetime(tzinfo=UTC) if event.meta.HasField("occurred_at") else datetime.now(UTC)
    return usage_notice(
        organization_id=usage.organization_id or event.meta.organization_id,
        month=usage.month,
        data_bytes=usage.data_volume,
        messages=usage.messages,
        devices=usage.devices,
        api_calls=usage.api_calls,
        estimated_cost=usage.estimated_cost,
        currency=usage.currency,
        at=at,
    )


def subscribe_to_usage(bus: EventBus, notify: Callable[[UsageNotice], Awaitable[object]], group: str = GROUP) -> None:
    async def on_usage(routing_key: str, payload: bytes) -> None:
        notice = notice_from_usage(payload)
        if notice is None:
            log.error("usage report event without organization or month; dropped")
            return
        await notify(notice)

    bus.subscribe(USAGE_REPORTED, on_usage, group=group)
