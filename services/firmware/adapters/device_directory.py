"""DeviceDirectory over gRPC: BatchGetDevices on the device service, with the firmware service's own token.

BatchGetDevices is internal and answers for every organization, so the organization is checked here: a
deployment of one organization never learns about another's devices (they are simply absent).
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc.aio
from iot.device.v1 import device_pb2, device_pb2_grpc

from services.firmware.domain.rollout.targets import TargetDevice
from services.runtime.clients import unavailable_when_unreachable

MAX_IDS_PER_CALL = 500  # what BatchGetDevices accepts
ONLINE = "online"


class GrpcDeviceDirectory:
    """The channel must carry the firmware service's own token (open_channel(..., service_tokens=...))."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout_seconds: float = 5.0) -> None:
        self._stub = device_pb2_grpc.DeviceServiceStub(channel)
        self._timeout = timeout_seconds

    async def lookup(self, org_id: str, device_ids: Sequence[str]) -> dict[str, TargetDevice]:
        wanted = list(dict.fromkeys(device_ids))
        found: dict[str, TargetDevice] = {}
        for start in range(0, len(wanted), MAX_IDS_PER_CALL):
            request = device_pb2.BatchGetDevicesRequest(device_ids=wanted[start : start + MAX_IDS_PER_CALL])
            with unavailable_when_unreachable("the device service did not answer; try the deployment again"):
                reply = await self._stub.BatchGetDevices(request, timeout=self._timeout)
            for device in reply.devices:  # deleted devices are left out unless asked for
                if device.organization_id == org_id:
                    found[device.device_id] = target_of(device)
        return found


def target_of(device: device_pb2.Device) -> TargetDevice:
    return TargetDevice(
        device_id=device.device_id,
        device_type=device.type,
        firmware_version=device.firmware_version if device.HasField("firmware_version") else None,
        online=device.status == ONLINE,
    )
