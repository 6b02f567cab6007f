"""TelemetryEvents on the event bus: iot.telemetry.v1 events on routing keys telemetry.*.

A batch can hold readings of several organizations; each event carries one organization in its meta. The
alert evaluator keeps per-device state in the replica that owns the device's partition (services/runtime/
bus.py), so a batch becomes one ReadingsStored event per (organization, partition of the device id), published
with one of its device ids as partition key: all readings of a device reach the same replica, in order.
AnomalyDetected is keyed by its device likewise. When the bus can tell that no partitioned group has several
members (the in-process bus of `iotmon up`), the partition decides nothing and a batch is one event per
organization: each event costs every consumer a transaction or so. Building ReadingsStored costs about as much
per reading as validating one (protobuf maps are slow to fill from Python), so when the bus can tell that
nobody receives the event (the in-process bus of `iotmon up` before any consumer subscribes), it is not built.
Each event also carries its readings counted per UTC day (`days`), which is all that counting consumers read.
Each (organization, partition) is a lane with one event in flight (lanes.py): readings stored meanwhile by
concurrent batches share the next event, so under load events grow rather than multiply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from google.protobuf import timestamp_pb2
from iot.telemetry.v1 import events_pb2

from services.runtime.bus import EventPublisher, event_meta, partition_of
from services.telemetry.adapters.lanes import Lanes
from services.telemetry.domain.day_counts import count_by_day
from services.telemetry.domain.model import Reading

READINGS_STORED = "telemetry.readings_stored"
# Readings per ReadingsStored event at most (about 100 bytes each): lanes merge batches up to this.
MAX_READINGS_PER_EVENT = 2000
ANOMALY_DETECTED = "telemetry.anomaly_detected"


@runtime_checkable
class KnowsSubscribers(Protocol):
    def has_subscribers(self, routing_key: str) -> bool: ...


@runtime_checkable
class KnowsPartitions(Protocol):
    @property
    def partitions(self) -> int: ...


@runtime_checkable
class KnowsPartitionSpread(Protocol):
    def spreads_partitions(self, routing_key: str) -> bool: ...


class BusTelemetryEvents:
    def __init__(self, bus: EventPublisher):
        self._bus = bus
        self._partitions = bus.partitions if isinstance(bus, KnowsPartitions) else 1
        self._lanes: Lanes[tuple[str, int], Reading] = Lanes(self._publish_stored, max_items=MAX_READINGS_PER_EVENT)

    async def readings_stored(self, readings: Sequence[Reading]) -> None:
        bus = self._bus
        if isinstance(bus, KnowsSubscribers) and not bus.has_subscribers(READINGS_STORED):
            return
        partitions = self._partitions
        if partitions > 1 and isinstance(bus, KnowsPartitionSpread) and not bus.spreads_partitions(READINGS_STORED):
            partitions = 1  # every receiver gets every partition: one event per organization
        groups: dict[tuple[str, int], list[Reading]] = {}
        if partitions == 1:
            for reading in readings:
                groups.setdefault((reading.organization_id, 0), []).append(reading)
        else:
            for reading in readings:
                key = (reading.organization_id, partition_of(reading.device_id, partitions))
                groups.setdefault(key, []).append(reading)
        await asyncio.gather(*(self._lanes.submit(key, own) for key, own in groups.items()))

    async def close(self) -> None:
        await self._lanes.close()

    async def _publish_stored(self, lane: tuple[str, int], readings: list[Reading]) -> None:
        event = events_pb2.ReadingsStored(meta=event_meta(lane[0]))
        add = event.readings.add
        for reading in readings:
            message = add(device_id=reading.device_id)
            # Item by item: a map's update() is the pure-Python MutableMapping mixin, twice as slow.
            values = message.values
            for name, value in reading.values.items():
                values[name] = value
            if reading.anomalies:
                message.anomalies.extend(sorted(reading.anomalies))
            seconds, millis = divmod(reading.timestamp_ms, 1000)
            stamp = message.timestamp  # fetched once: each attribute access makes a new wrapper
            stamp.seconds = seconds
            stamp.nanos = millis * 1_000_000
        for counted in count_by_day(readings):
            day = event.days.add(day=counted.day, readings=counted.readings, datapoints=counted.datapoints)
            day.device_ids.extend(counted.device_ids)
        await self._bus.publish(READINGS_STORED, event, partition_key=readings[0].device_id)

    async def anomaly_detected(self, reading: Reading, metric: str, score: float) -> None:
        event = events_pb2.AnomalyDetected(
            meta=event_meta(reading.organization_id),
            device_id=reading.device_id,
            metric=metric,
            value=reading.values[metric],
            score=score,
            timestamp=timestamp_of(reading.timestamp_ms),
        )
        await self._bus.publish(ANOMALY_DETECTED, event, partition_key=reading.device_id)


def timestamp_of(timestamp_ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(timestamp_ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)
