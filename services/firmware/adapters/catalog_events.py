"""CatalogEvents on the bus (firmware.validated), and the firmware.uploaded consumer that runs the processor."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from iot.firmware.v1 import events_pb2

from services.firmware.catalog_messages import firmware_to_proto
from services.firmware.domain.catalog.firmware import Firmware
from services.firmware.domain.catalog.processing import FirmwareProcessor, Outcome, Processed
from services.runtime.bus import EventPublisher, event_meta

log = logging.getLogger("iotmon.firmware")

FIRMWARE_UPLOADED = "firmware.uploaded"
FIRMWARE_VALIDATED = "firmware.validated"


class BusCatalogEvents:
    def __init__(self, bus: EventPublisher):
        self._bus = bus

    async def validated(self, firmware: Firmware) -> None:
        event = events_pb2.FirmwareValidated(meta=event_meta(firmware.org_id), firmware=firmware_to_proto(firmware))
        await self._bus.publish(FIRMWARE_VALIDATED, event)


class ObjectCreatedListener:
    """ "Object created" from either source — the bus event of the gateway's upload endpoint, or an S3 event
    notification read from SQS — goes through here to the processor, which is idempotent."""

    def __init__(self, processor: FirmwareProcessor):
        self._processor = processor

    async def on_uploaded(self, routing_key: str, payload: bytes) -> None:
        event = events_pb2.FirmwareUploaded.FromString(payload)
        uploaded_at = event.meta.occurred_at.ToDatetime(UTC) if event.meta.HasField("occurred_at") else None
        await self.on_object_created(event.object_key, uploaded_at)

    async def on_object_created(self, key: str, uploaded_at: datetime | None) -> Processed:
        result = await self._processor.on_object_created(key, uploaded_at)
        fields = {"objectKey": key, "outcome": result.outcome.value}
        if result.firmware is not None:
            fields |= {"firmwareId": result.firmware.firmware_id, "organizationId": result.firmware.org_id}
            if result.firmware.rejection_reason:
                fields["reason"] = result.firmware.rejection_reason
        if result.outcome in (Outcome.VALIDATED, Outcome.REJECTED):
            log.info("firmware processed", extra=fields)
        else:
            log.warning("object ignored", extra=fields)
        return result
