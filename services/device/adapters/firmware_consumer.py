"""The device service on firmware.job_status_changed: a SUCCEEDED job sets the device's firmwareVersion.

Group "device": the replicas share the events; the use case is idempotent, so a redelivery is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC

from iot.firmware.v1 import events_pb2

from services.device.domain.firmware import FirmwareInstalled
from services.runtime.bus import EventBus

log = logging.getLogger("iotmon.device")

JOB_STATUS_CHANGED = "firmware.job_status_changed"
GROUP = "device"
SUCCEEDED = "SUCCEEDED"


def installed_from_event(payload: bytes) -> FirmwareInstalled | None:
    """The install a job report tells of; None for every other report (queued, failed, …)."""
    event = events_pb2.JobStatusChanged.FromString(payload)
    if event.status.strip().upper() != SUCCEEDED:
        return None
    # The device's report time orders installs; an event without one falls back to when it was published.
    reported = event.reported_at if event.HasField("reported_at") else event.meta.occurred_at
    return FirmwareInstalled(
        organization_id=event.meta.organization_id,
        device_id=event.device_id,
        version=event.firmware_version,
        reported_at=reported.ToDatetime(tzinfo=UTC),
    )


class JobStatusConsumer:
    """Bus handler; raising (a store that is down) makes the bus redeliver the event."""

    def __init__(self, record: Callable[[FirmwareInstalled], Awaitable[object]]):
        self._record = record

    async def __call__(self, routing_key: str, payload: bytes) -> None:
        installed = installed_from_event(payload)
        if installed is None:
            return
        if not (installed.organization_id and installed.device_id and installed.version):
            log.error(
                "firmware job event without organization, device or version; dropped",
                extra={"routingKey": routing_key, "deviceId": installed.device_id},
            )
            return
        await self._record(installed)


def subscribe_to_jobs(bus: EventBus, record: Callable[[FirmwareInstalled], Awaitable[object]]) -> None:
    bus.subscribe(JOB_STATUS_CHANGED, JobStatusConsumer(record), group=GROUP)
