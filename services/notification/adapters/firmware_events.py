"""The notification service on firmware events: firmware.validated and firmware.deployment_changed become
notices to the organization's admins (domain/firmware_notices.py).

Group "notification", one queue per routing key: the replicas share the events. A redelivered event finds
its deliveries in the log and sends nothing twice; a retryable failure raises so the bus delivers it again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from iot.common.v1 import common_pb2
from iot.firmware.v1 import events_pb2

from services.notification.domain.firmware_notices import deployment_notice, validation_notice
from services.notification.domain.model import DeploymentCounts, FirmwareNotice
from services.runtime.bus import EventBus

log = logging.getLogger("iotmon.notification")

FIRMWARE_VALIDATED = "firmware.validated"
DEPLOYMENT_CHANGED = "firmware.deployment_changed"
GROUP = "notification"

Notify = Callable[[FirmwareNotice], Awaitable[object]]


def _when(meta: common_pb2.EventMeta, *fallbacks: timestamp_pb2.Timestamp) -> datetime:
    """When it happened: the event's time, else the first time the resource carries, else now."""
    for stamp in (meta.occurred_at, *fallbacks):
        if stamp.seconds or stamp.nanos:
            return stamp.ToDatetime(tzinfo=UTC)
    return datetime.now(UTC)


def notice_from_validated(payload: bytes) -> FirmwareNotice | None:
    """The notice for a processed image; None when admins are not told (or the event names no firmware)."""
    event = events_pb2.FirmwareValidated.FromString(payload)
    firmware = event.firmware
    if not firmware.firmware_id:
        return None
    return validation_notice(
        organization_id=event.meta.organization_id,
        firmware_id=firmware.firmware_id,
        version=firmware.version,
        status=firmware.status,
        reason=firmware.rejection_reason,
        at=_when(event.meta, firmware.validated_at),
    )


def notice_from_deployment(payload: bytes) -> FirmwareNotice | None:
    """The notice for a deployment's status; None when admins are not told (or it names no deployment)."""
    event = events_pb2.DeploymentChanged.FromString(payload)
    deployment = event.deployment
    if not deployment.deployment_id:
        return None
    progress = deployment.progress
    return deployment_notice(
        organization_id=event.meta.organization_id,
        deployment_id=deployment.deployment_id,
        firmware_id=deployment.firmware_id,
        version=deployment.firmware_version,
        status=deployment.status,
        reason=deployment.halt_reason,
        counts=DeploymentCounts(progress.total, progress.succeeded, progress.failed),
        at=_when(event.meta, deployment.completed_at),
    )


class FirmwareEventConsumer:
    """Bus handler for one firmware routing key; events admins are not told about are acknowledged."""

    def __init__(self, read: Callable[[bytes], FirmwareNotice | None], notify: Notify):
        self._read = read
        self._notify = notify

    async def __call__(self, routing_key: str, payload: bytes) -> None:
        notice = self._read(payload)
        if notice is None:
            return
        if not notice.organization_id:
            log.error("firmware event without an organization; dropped", extra={"routingKey": routing_key})
            return
        await self._notify(notice)


def subscribe_to_firmware(bus: EventBus, notify: Notify, group: str = GROUP) -> None:
    bus.subscribe(FIRMWARE_VALIDATED, FirmwareEventConsumer(notice_from_validated, notify), group=group)
    bus.subscribe(DEPLOYMENT_CHANGED, FirmwareEventConsumer(notice_from_deployment, notify), group=group)
