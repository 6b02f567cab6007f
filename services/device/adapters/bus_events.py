"""DeviceEvents on the event bus: iot.device.v1 event messages on routing keys device.*."""

from __future__ import annotations

from iot.device.v1 import events_pb2

from services.device.domain.model import Device, DeviceChange, DeviceState, DeviceStatus
from services.device.messages import change_to_proto, device_to_proto
from services.runtime.bus import EventPublisher, event_meta
from services.runtime.otel.hooks import count_device_registered

REGISTERED = "device.registered"
UPDATED = "device.updated"
DELETED = "device.deleted"
STATUS_CHANGED = "device.status_changed"


class BusDeviceEvents:
    def __init__(self, bus: EventPublisher):
        self._bus = bus

    async def registered(self, device: Device, actor_user_id: str | None) -> None:
        count_device_registered()
        meta = event_meta(device.organization_id, actor_user_id)
        await self._bus.publish(REGISTERED, events_pb2.DeviceRegistered(meta=meta, device=device_to_proto(device)))

    async def updated(self, device: Device, change: DeviceChange) -> None:
        event = events_pb2.DeviceUpdated(
            meta=event_meta(device.organization_id, change.changed_by),
            device=device_to_proto(device),
            change=change_to_proto(change),
        )
        await self._bus.publish(UPDATED, event)

    async def deleted(self, device: Device, actor_user_id: str | None) -> None:
        meta = event_meta(device.organization_id, actor_user_id)
        await self._bus.publish(DELETED, events_pb2.DeviceDeleted(meta=meta, device_id=device.device_id))

    async def status_changed(
        self, device: DeviceState, previous_status: DeviceStatus, actor_user_id: str | None
    ) -> None:
        event = events_pb2.DeviceStatusChanged(
            meta=event_meta(device.organization_id, actor_user_id),
            device_id=device.device_id,
            previous_status=previous_status.value,
            status=device.status.value,
        )
        await self._bus.publish(STATUS_CHANGED, event)
