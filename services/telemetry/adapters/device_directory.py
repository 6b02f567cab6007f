"""DeviceDirectory over gRPC: BatchGetDevices on the device service, as the telemetry service itself.

Every batch of telemetry needs the device of each record (organization, type, deleted or not), so answers
are cached: a found device for `positive_ttl` seconds, an unknown id for `negative_ttl` (an unknown device
flooding the pipeline must not turn into one RPC per batch, and a device registered a moment later must not
stay refused for long). Device events on the bus, when the bus delivers them to this process, drop an entry
at once: a deleted device stops being accepted without waiting for the TTL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

import grpc
import grpc.aio
from iot.device.v1 import device_pb2, device_pb2_grpc, events_pb2

from services.runtime.clients import unavailable_when_unreachable
from services.runtime.ttl_cache import TtlCache
from services.telemetry.domain.model import DeviceInfo

log = logging.getLogger("iotmon.telemetry.devices")

MAX_IDS_PER_CALL = 500  # what BatchGetDevices accepts
DELETED_STATUS = "deleted"
# Device events that can change what telemetry knows of a device, and how to find the device id in each.
DEVICE_EVENTS: dict[str, Callable[[bytes], str]] = {
    "device.registered": lambda payload: events_pb2.DeviceRegistered.FromString(payload).device.device_id,
    "device.updated": lambda payload: events_pb2.DeviceUpdated.FromString(payload).device.device_id,
    "device.deleted": lambda payload: events_pb2.DeviceDeleted.FromString(payload).device_id,
}


class GrpcDeviceDirectory:
    """The channel must carry the telemetry service's own token (open_channel(..., service_tokens=...)):
    BatchGetDevices is internal and answers for every organization only to services."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        positive_ttl: float = 30.0,
        negative_ttl: float = 5.0,
        timeout_seconds: float = 5.0,
        max_entries: int = 500_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._stub = device_pb2_grpc.DeviceServiceStub(channel)
        self._timeout = timeout_seconds
        self._cache = TtlCache[str, DeviceInfo](
            positive_ttl=positive_ttl, negative_ttl=negative_ttl, max_entries=max_entries, clock=clock
        )
        self.calls = 0  # BatchGetDevices calls made, for tests and the stats line

    async def lookup(self, device_ids: Collection[str]) -> dict[str, DeviceInfo]:
        return await self._cache.get_many(device_ids, self._fetch)

    def invalidate(self, device_id: str) -> None:
        self._cache.invalidate(device_id)

    async def on_device_event(self, routing_key: str, payload: bytes) -> None:
        """Bus handler for device.*: forget the device the event is about."""
        device_id_of = DEVICE_EVENTS.get(routing_key)
        if device_id_of is not None:
            self.invalidate(device_id_of(payload))

    async def _fetch(self, device_ids: list[str]) -> dict[str, DeviceInfo]:
        fetched: dict[str, DeviceInfo] = {}
        for start in range(0, len(device_ids), MAX_IDS_PER_CALL):
            chunk = device_ids[start : start + MAX_IDS_PER_CALL]
            request = device_pb2.BatchGetDevicesRequest(device_ids=chunk, include_deleted=True)
            self.calls += 1
            with unavailable_when_unreachable("the device service did not answer; the batch was not ingested"):
                reply = await self._stub.BatchGetDevices(request, timeout=self._timeout)
            for device in reply.devices:
                fetched[device.device_id] = DeviceInfo(
                    device.device_id, device.organization_id, device.type, device.status == DELETED_STATUS
                )
        return fetched
