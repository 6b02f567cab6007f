"""DeviceActivitySink over gRPC: RecordDeviceActivity on the device service, as the telemetry service itself.

Updating a device costs the device service far more than storing a reading costs telemetry (a read, a state
change, a write per device), so activity is coalesced across batches, with at most one call in flight:

- when no call is in flight and the activity is small (at most SMALL devices) or the last call started at
  least `min_interval_seconds` ago, it is sent at once and `record` returns when the device service has it:
  GET /devices/{id} right after POST /telemetry shows the new lastReading;
- otherwise (under load) it is merged into the pending activity (newest reading per device, counts added up)
  and `record` returns at once; the next call, an interval after the last one started, carries all of it.
  lastSeen and lastReading then lag by about the interval, and the device service sees each device about
  once per interval however many readings arrive: the cost of device state is bounded by the devices.

The device service not answering does not fail ingest: the readings are stored, and the device's next
activity brings its state up to date. Any other error is a bug: raised to the caller that waits on the call,
logged when nobody does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import grpc
import grpc.aio
from google.protobuf import struct_pb2, timestamp_pb2
from iot.device.v1 import device_pb2, device_pb2_grpc

from services.runtime.clients import UNREACHABLE
from services.telemetry.domain.model import DeviceActivity

log = logging.getLogger("iotmon.telemetry.activity")

MAX_ACTIVITIES_PER_CALL = 500  # what RecordDeviceActivity accepts
# Activity of this many devices or fewer goes out at once when no call is in flight (interactive use).
SMALL = 64


class _Pending:
    """One device's activity waiting to be sent, merged in place as batches arrive."""

    __slots__ = ("accepted", "device_id", "last_seen_ms", "last_values", "rejected")

    def __init__(self, activity: DeviceActivity):
        self.device_id = activity.device_id
        self.last_seen_ms = activity.last_seen_ms
        self.last_values = activity.last_values
        self.accepted = activity.accepted
        self.rejected = activity.rejected

    def merge(self, newer: DeviceActivity) -> None:
        if newer.last_seen_ms is not None and (self.last_seen_ms is None or newer.last_seen_ms >= self.last_seen_ms):
            self.last_seen_ms, self.last_values = newer.last_seen_ms, newer.last_values
        self.accepted += newer.accepted
        self.rejected += newer.rejected


class GrpcDeviceActivitySink:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        min_interval_seconds: float = 1.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._stub = device_pb2_grpc.DeviceServiceStub(channel)
        self._interval = min_interval_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._sending = False
        self._last_start = -float("inf")
        self._idle = asyncio.Event()
        self._idle.set()
        self._later: asyncio.Task[None] | None = None
        self._closing = False
        self.calls = 0  # RecordDeviceActivity calls made, for tests

    async def record(self, activities: Sequence[DeviceActivity]) -> None:
        pending = self._pending
        for activity in activities:
            known = pending.get(activity.device_id)
            if known is None:
                pending[activity.device_id] = _Pending(activity)
            else:
                known.merge(activity)
        due = len(pending) <= SMALL or self._clock() - self._last_start >= self._interval
        if self._sending or not due:
            self._send_later()
            return
        await self._flush()

    async def close(self) -> None:
        """Send what is pending (best effort: when the whole mesh stops, the device service may be gone)."""
        self._closing = True
        if self._later is not None:
            self._later.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._later
        if self._pending and not self._sending:
            with contextlib.suppress(Exception):
                await self._flush()

    def _send_later(self) -> None:
        if self._later is None or self._later.done():
            self._later = asyncio.get_running_loop().create_task(self._flush_when_due())

    async def _flush_when_due(self) -> None:
        while self._pending:
            await self._idle.wait()
            delay = self._last_start + self._interval - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._sending or not self._pending:
                continue
            try:
                await self._flush()
            except Exception:
                log.exception("recording device activity failed", extra={"devices": len(self._pending)})

    async def _flush(self) -> None:
        self._sending = True
        self._idle.clear()
        self._last_start = self._clock()
        batch, self._pending = list(self._pending.values()), {}
        try:
            await self._send(batch)
        finally:
            self._sending = False
            self._idle.set()

    async def _send(self, activities: list[_Pending]) -> None:
        for start in range(0, len(activities), MAX_ACTIVITIES_PER_CALL):
            chunk = activities[start : start + MAX_ACTIVITIES_PER_CALL]
            request = device_pb2.RecordDeviceActivityRequest(activities=[activity_message(a) for a in chunk])
            self.calls += 1
            try:
                await self._stub.RecordDeviceActivity(request, timeout=self._timeout)
            except grpc.aio.AioRpcError as error:
                if error.code() not in UNREACHABLE:
                    raise
                log.log(
                    logging.INFO if self._closing else logging.WARNING,
                    "the device service did not take the devices' activity; their state waits for the next batch",
                    extra={"devices": len(activities), "code": error.code().name},
                )
                return


def activity_message(activity: _Pending | DeviceActivity) -> device_pb2.DeviceActivity:
    message = device_pb2.DeviceActivity(
        device_id=activity.device_id,
        accepted_readings=activity.accepted,
        rejected_readings=activity.rejected,
    )
    if activity.last_seen_ms is not None:
        seconds, millis = divmod(activity.last_seen_ms, 1000)
        message.last_seen.CopyFrom(timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000))
        message.last_reading.CopyFrom(
            struct_pb2.Struct(fields={k: struct_pb2.Value(number_value=v) for k, v in activity.last_values.items()})
        )
    return message
