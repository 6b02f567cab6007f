"""Device id → name, type and organization for the evaluator: BatchGetDevices on the device service.

The evaluator needs a device's type (which rules apply) and name (the alert shows it) for every reading, so
answers are cached: a device for `positive_ttl` seconds, an unknown or deleted id for `negative_ttl`.
Device events (device.# broadcast to every replica) drop an entry at once, so a renamed or retyped device
is seen at its next reading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

import grpc
import grpc.aio
from iot.device.v1 import device_pb2, device_pb2_grpc, events_pb2

from services.alerting.domain.evaluation import DeviceRef
from services.runtime.clients import unavailable_when_unreachable
from services.runtime.ttl_cache import TtlCache

log = logging.getLogger("iotmon.alerting.devices")

MAX_IDS_PER_CALL = 500  # what BatchGetDevices accepts
DEVICE_DELETED = "device.deleted"
# Device events that can change what the evaluator knows of a device, and how to find the device id in each.
DEVICE_EVENTS: dict[str, Callable[[bytes], str]] = {
    "device.registered": lambda payload: events_pb2.DeviceRegistered.FromString(payload).device.device_id,
    "device.updated": lambda payload: events_pb2.DeviceUpdated.FromString(payload).device.device_id,
    DEVICE_DELETED: lambda payload: events_pb2.DeviceDeleted.FromString(payload).device_id,
}


def device_id_of_event(routing_key: str, payload: bytes) -> str | None:
    """The device a device.* event is about (None for events that change nothing the evaluator uses)."""
    read = DEVICE_EVENTS.get(routing_key)
    return None if read is None else read(payload)


class GrpcDeviceLookup:
    """The channel must carry the alerting service's own token: BatchGetDevices is internal."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        positive_ttl: float = 300.0,
        negative_ttl: float = 5.0,
        timeout_seconds: float = 5.0,
        max_entries: int = 500_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._stub = device_pb2_grpc.DeviceServiceStub(channel)
        self._timeout = timeout_seconds
        self._cache = TtlCache[str, DeviceRef](
            positive_ttl=positive_ttl, negative_ttl=negative_ttl, max_entries=max_entries, clock=clock
        )
        self.calls = 0

    async def lookup(self, device_ids: Collection[str]) -> dict[str, DeviceRef]:
        """The devices among `device_ids` that exist and are not deleted."""
        return await self._cache.get_many(device_ids, self._fetch)

    def invalidate(self, device_id: str) -> None:
        self._cache.invalidate(device_id)

    async def _fetch(self, device_ids: list[str]) -> dict[str, DeviceRef]:
        fetched: dict[str, DeviceRef] = {}
        for start in range(0, len(device_ids), MAX_IDS_PER_CALL):
            request = device_pb2.BatchGetDevicesRequest(device_ids=device_ids[start : start + MAX_IDS_PER_CALL])
            self.calls += 1
            with unavailable_when_unreachable("the device service did not answer; the readings will be redelivered"):
                reply = await self._stub.BatchGetDevices(request, timeout=self._timeout)
            for found in reply.devices:  # deleted devices are left out unless asked for
                fetched[found.device_id] = DeviceRef(found.device_id, found.organization_id, found.type, found.name)
        return fetched
