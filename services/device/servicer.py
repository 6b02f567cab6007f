"""iot.device.v1.DeviceService over gRPC: converts messages to domain commands and results back, nothing else.

Errors are DomainErrors raised by the use cases; the runtime's interceptor turns them into status codes.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import grpc.aio
from google.protobuf import json_format, struct_pb2
from iot.device.v1 import device_pb2, device_pb2_grpc

from services.device.domain.commands import ActivityReport, ListDevices, RegisterDevice, UpdateDevice
from services.device.domain.liveness import LivenessService
from services.device.domain.service import DeviceService
from services.device.messages import (
    READING_TIME_KEY,
    change_to_proto,
    connectivity_from_proto,
    credentials_to_proto,
    device_to_proto,
    location_from_proto,
    timestamp,
    to_struct,
)
from services.runtime.context import current_caller
from services.runtime.messages import pagination_message

Context = grpc.aio.ServicerContext[Any, Any]


class DeviceServicer(device_pb2_grpc.DeviceServiceServicer):
    def __init__(self, service: DeviceService, liveness: LivenessService):
        self._service = service
        self._liveness = liveness

    async def RegisterDevice(
        self, request: device_pb2.RegisterDeviceRequest, context: Context
    ) -> device_pb2.RegisterDeviceResponse:
        registration = await self._service.register(current_caller(), register_command(request))
        device = registration.device
        return device_pb2.RegisterDeviceResponse(
            device_id=device.device_id,
            name=device.name,
            status=device.status.value,
            provisioning_credentials=credentials_to_proto(registration.credentials),
            created_at=timestamp(device.created_at),
        )

    async def GetDevice(self, request: device_pb2.GetDeviceRequest, context: Context) -> device_pb2.GetDeviceResponse:
        view = await self._service.get(current_caller(), request.device_id)
        return device_pb2.GetDeviceResponse(device=device_to_proto(view.device, view.health))

    async def ListDevices(
        self, request: device_pb2.ListDevicesRequest, context: Context
    ) -> device_pb2.ListDevicesResponse:
        listing = await self._service.list_devices(current_caller(), list_command(request))
        return device_pb2.ListDevicesResponse(
            items=[device_to_proto(v.device, v.health) for v in listing.page.items],
            pagination=pagination_message(listing.page),
            filters=to_struct(listing.filters),
        )

    async def UpdateDevice(
        self, request: device_pb2.UpdateDeviceRequest, context: Context
    ) -> device_pb2.UpdateDeviceResponse:
        view = await self._service.update(current_caller(), update_command(request))
        return device_pb2.UpdateDeviceResponse(device=device_to_proto(view.device, view.health))

    async def DeleteDevice(
        self, request: device_pb2.DeleteDeviceRequest, context: Context
    ) -> device_pb2.DeleteDeviceResponse:
        device = await self._service.delete(current_caller(), request.device_id)
        return device_pb2.DeleteDeviceResponse(
            device_id=device.device_id,
            status=device.status.value,
            deleted_at=timestamp(device.deleted_at or device.updated_at),
        )

    async def ListDeviceChanges(
        self, request: device_pb2.ListDeviceChangesRequest, context: Context
    ) -> device_pb2.ListDeviceChangesResponse:
        page = await self._service.list_changes(
            current_caller(),
            request.device_id,
            page=request.page if request.HasField("page") else None,
            page_size=request.page_size if request.HasField("page_size") else None,
        )
        return device_pb2.ListDeviceChangesResponse(
            items=[change_to_proto(c) for c in page.items], pagination=pagination_message(page)
        )

    async def BatchGetDevices(
        self, request: device_pb2.BatchGetDevicesRequest, context: Context
    ) -> device_pb2.BatchGetDevicesResponse:
        devices = await self._service.batch_get(
            current_caller(), list(request.device_ids), include_deleted=request.include_deleted
        )
        return device_pb2.BatchGetDevicesResponse(devices=[device_to_proto(d) for d in devices])

    async def RecordDeviceActivity(
        self, request: device_pb2.RecordDeviceActivityRequest, context: Context
    ) -> device_pb2.RecordDeviceActivityResponse:
        reports = [activity_report(a) for a in request.activities]
        updated = await self._liveness.record_activity(current_caller(), reports)
        return device_pb2.RecordDeviceActivityResponse(updated=updated)


def register_command(request: device_pb2.RegisterDeviceRequest) -> RegisterDevice:
    return RegisterDevice(
        device_type=request.device_type,
        name=request.name,
        location=location_from_proto(request.location) if request.HasField("location") else None,
        connectivity=connectivity_from_proto(request.connectivity) if request.HasField("connectivity") else None,
        metadata=dict(request.metadata),
        tags=list(request.tags),
    )


def update_command(request: device_pb2.UpdateDeviceRequest) -> UpdateDevice:
    """Presence decides: a field absent from the request is left as it is."""
    return UpdateDevice(
        device_id=request.device_id,
        name=request.name if request.HasField("name") else None,
        location=location_from_proto(request.location) if request.HasField("location") else None,
        tags=list(request.tags) if request.HasField("tags") else None,
        metadata=json_format.MessageToDict(request.metadata) if request.HasField("metadata") else None,
        status=request.status if request.HasField("status") else None,
    )


def list_command(request: device_pb2.ListDevicesRequest) -> ListDevices:
    has = request.HasField
    return ListDevices(
        organization_id=request.organization_id if has("organization_id") else None,
        status=request.status if has("status") else None,
        device_type=request.device_type if has("device_type") else None,
        location=request.location if has("location") else None,
        tags=list(request.tags),
        page=request.page if has("page") else None,
        page_size=request.page_size if has("page_size") else None,
        sort_by=request.sort_by if has("sort_by") else None,
        sort_order=request.sort_order if has("sort_order") else None,
    )


def activity_report(activity: device_pb2.DeviceActivity) -> ActivityReport:
    # The reading's own "timestamp" is the time last_seen already carries.
    values = {k: plain_value(v) for k, v in activity.last_reading.fields.items() if k != READING_TIME_KEY}
    return ActivityReport(
        device_id=activity.device_id,
        last_seen=activity.last_seen.ToDatetime(tzinfo=UTC) if activity.HasField("last_seen") else None,
        values=values,
        accepted=activity.accepted_readings,
        rejected=activity.rejected_readings,
    )


def plain_value(value: struct_pb2.Value) -> object:
    """A Struct value as Python, read directly: json_format per reading of a 500-device batch costs too much."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind in ("struct_value", "list_value"):
        return json_format.MessageToDict(value)
    return None
