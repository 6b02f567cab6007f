"""Small in-memory servicers the gateway tests call through a real gRPC port.

They hold no business logic worth the name: just enough state to show that paths, queries, bodies,
metadata and domain errors travel through the gateway as they should.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import Message
from iot.device.v1 import device_pb2, device_pb2_grpc
from iot.identity.v1 import identity_pb2, identity_pb2_grpc
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from services.kernel.caller import Role
from services.kernel.errors import (
    AlreadyExists,
    Conflict,
    FieldViolation,
    NotFound,
    RateLimited,
    TooLarge,
    ValidationFailed,
)
from services.runtime.context import current_caller


class Recorder:
    """What the fakes received: every request message and its invocation metadata."""

    def __init__(self) -> None:
        self.requests: list[Message] = []
        self.metadata: list[dict[str, str]] = []

    def record(self, request: Message, context: Any) -> None:
        self.requests.append(request)
        self.metadata.append({k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)})

    @property
    def last(self) -> Any:
        return self.requests[-1]


class FakeDevices(device_pb2_grpc.DeviceServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.devices: dict[str, device_pb2.Device] = {}

    def add(self, device_id: str, organization_id: str = "org-1", **fields: Any) -> device_pb2.Device:
        device = device_pb2.Device(device_id=device_id, organization_id=organization_id, status="online", **fields)
        self.devices[device_id] = device
        return device

    async def RegisterDevice(self, request: device_pb2.RegisterDeviceRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        caller = current_caller()
        caller.require(Role.OPERATOR, "register a device")
        if len(request.name) < 3:
            raise ValidationFailed("1 invalid field", violations=[FieldViolation("name", "must be 3-100 characters")])
        serial = request.metadata.get("serialNumber")
        for existing in self.devices.values():
            if serial and existing.metadata.get("serialNumber") == serial:
                raise AlreadyExists(
                    f"a device with serial number {serial} exists",
                    reason="DEVICE_ALREADY_EXISTS",
                    details={"serialNumber": serial, "deviceId": existing.device_id},
                )
        device = self.add(
            f"dev-{len(self.devices) + 1}", caller.organization_id, name=request.name, type=request.device_type
        )
        device.metadata.update(request.metadata)
        reply = device_pb2.RegisterDeviceResponse(device_id=device.device_id, name=device.name, status="registered")
        reply.created_at.FromDatetime(datetime(2025, 11, 15, 10, tzinfo=UTC))
        return reply

    async def GetDevice(self, request: device_pb2.GetDeviceRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        if request.device_id == "slow":
            await asyncio.sleep(5)
        if request.device_id == "boom":
            raise RuntimeError("secret internals: db password hunter2")
        if request.device_id == "huge":
            raise TooLarge("the device's data is too large to answer", details={"maxBytes": "10"})
        if request.device_id == "busy":
            raise RateLimited("too many requests, slow down")
        return device_pb2.GetDeviceResponse(device=self._find(request.device_id))

    async def ListDevices(self, request: device_pb2.ListDevicesRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        pagination = {"page": request.page or 1, "page_size": request.page_size or 25}
        filters = struct_pb2.Struct()
        if request.HasField("status"):
            filters.update({"status": request.status})
        return device_pb2.ListDevicesResponse(
            items=list(self.devices.values()),
            pagination={**pagination, "total_items": len(self.devices), "total_pages": 1},
            filters=filters,
        )

    async def UpdateDevice(self, request: device_pb2.UpdateDeviceRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        device = self._find(request.device_id)
        if request.HasField("name"):
            device.name = request.name
        if request.HasField("tags"):
            device.ClearField("tags")
            device.tags.extend(str(v) for v in request.tags)
        return device_pb2.UpdateDeviceResponse(device=device)

    async def DeleteDevice(self, request: device_pb2.DeleteDeviceRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        current_caller().require(Role.ADMIN, "delete a device")
        device = self._find(request.device_id)
        if "alerting" in device.tags:
            raise Conflict(
                "the device has active alerts", reason="DEVICE_HAS_ACTIVE_ALERTS", details={"activeAlerts": "2"}
            )
        del self.devices[request.device_id]
        return device_pb2.DeleteDeviceResponse(device_id=request.device_id, status="deleted")

    async def ListDeviceChanges(self, request: device_pb2.ListDeviceChangesRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        self._find(request.device_id)
        return device_pb2.ListDeviceChangesResponse(pagination={"page": 1, "page_size": 25})

    def _find(self, device_id: str) -> device_pb2.Device:
        device = self.devices.get(device_id)
        if device is None or device.organization_id != current_caller().organization_id:
            raise NotFound(
                f"Device with ID '{device_id}' not found", reason="DEVICE_NOT_FOUND", details={"deviceId": device_id}
            )
        return device


class FakeTelemetry(telemetry_pb2_grpc.TelemetryServiceServicer):
    """Echoes the history query back, so tests see what the gateway built from the query string; accepts
    every byte of an ingest body, failing record 0 when the body mentions "bad"."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def IngestTelemetry(self, request: telemetry_pb2.IngestTelemetryRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        failed = [telemetry_pb2.RecordFailure(index=0, reason="OUT_OF_RANGE", message="bad")]
        return telemetry_pb2.IngestTelemetryResponse(
            accepted=len(request.payload.data), failed=failed if b"bad" in request.payload.data else []
        )

    async def GetDeviceHistory(self, request: telemetry_pb2.GetDeviceHistoryRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        reply = telemetry_pb2.GetDeviceHistoryResponse(
            device_id=request.device_id, metrics=list(request.metrics), aggregation=request.aggregation or "raw"
        )
        reply.time_range.start.CopyFrom(request.start_date)
        reply.time_range.end.CopyFrom(request.end_date)
        return reply


class FakeIdentity(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def IssueToken(self, request: identity_pb2.IssueTokenRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        return identity_pb2.IssueTokenResponse(access_token="issued", token_type="Bearer", expires_in=3600)

    async def GetProfile(self, request: identity_pb2.GetProfileRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        return identity_pb2.GetProfileResponse(user=self._user())

    async def UpdatePreferences(self, request: identity_pb2.UpdatePreferencesRequest, context: Any) -> Any:
        self.recorder.record(request, context)
        user = self._user()
        user.preferences.CopyFrom(request.preferences)
        return identity_pb2.UpdatePreferencesResponse(user=user)

    def _user(self) -> identity_pb2.User:
        caller = current_caller()
        return identity_pb2.User(
            user_id=caller.user_id,
            email=caller.email or "",
            organization_id=caller.organization_id,
            role=caller.role.label,
        )
