"""Telemetry publishes ReadingsStored partitioned by device, so one evaluator replica sees all of a device."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import Message
from iot.telemetry.v1 import events_pb2

from services.runtime.bus import partition_of
from services.telemetry.adapters.bus_events import BusTelemetryEvents
from services.telemetry.domain.model import Reading

T0 = 1_762_768_800_000


@dataclass
class RecordingBus:
    partitions: int = 4
    subscribed: bool = True
    published: list[tuple[str, Message, str | None]] = field(default_factory=list)

    def has_subscribers(self, routing_key: str) -> bool:
        return self.subscribed

    async def publish(self, routing_key: str, event: Message, *, partition_key: str | None = None) -> None:
        self.published.append((routing_key, event, partition_key))


def reading(device_id: str, organization_id: str = "org-1", at_ms: int = T0) -> Reading:
    return Reading(device_id, organization_id, "temperature-sensor-v2", at_ms, {"temperature": 21.5})


async def test_a_batch_becomes_one_event_per_organization_and_partition() -> None:
    bus = RecordingBus(partitions=4)
    batch = [reading(f"dev-{i}", f"org-{i % 2}", T0 + i) for i in range(40)] + [reading("dev-3", "org-1", T0 + 99)]
    await BusTelemetryEvents(bus).readings_stored(batch)

    seen: list[tuple[str, str, int]] = []
    groups = set()
    for routing_key, event, partition_key in bus.published:
        assert routing_key == "telemetry.readings_stored"
        assert isinstance(event, events_pb2.ReadingsStored)
        assert partition_key is not None
        partition = partition_of(partition_key, 4)
        organization_id = event.meta.organization_id
        groups.add((organization_id, partition))
        for stored in event.readings:
            assert partition_of(stored.device_id, 4) == partition, "every reading in its device's partition"
            seen.append((organization_id, stored.device_id, stored.timestamp.ToMilliseconds()))
    expected = [(r.organization_id, r.device_id, r.timestamp_ms) for r in batch]
    assert sorted(seen) == sorted(expected), "every reading exactly once, under its own organization"
    assert len(bus.published) == len(groups) == len({(r.organization_id, partition_of(r.device_id, 4)) for r in batch})
    event_ids = {e.meta.event_id for _, e, _ in bus.published if isinstance(e, events_pb2.ReadingsStored)}
    assert len(event_ids) == len(bus.published), "every event has its own id"


async def test_readings_of_one_device_keep_their_order_within_the_event() -> None:
    bus = RecordingBus()
    await BusTelemetryEvents(bus).readings_stored([reading("dev-1", at_ms=T0 + i) for i in (3, 1, 2)])
    [(_, event, key)] = bus.published
    assert isinstance(event, events_pb2.ReadingsStored)
    assert key == "dev-1"
    assert [r.timestamp.ToMilliseconds() - T0 for r in event.readings] == [3, 1, 2]


async def test_anomalies_are_keyed_by_their_device() -> None:
    bus = RecordingBus()
    await BusTelemetryEvents(bus).anomaly_detected(reading("dev-7"), "temperature", 5.0)
    [(routing_key, _, key)] = bus.published
    assert (routing_key, key) == ("telemetry.anomaly_detected", "dev-7")


async def test_nothing_is_built_when_nobody_listens() -> None:
    bus = RecordingBus(subscribed=False)
    await BusTelemetryEvents(bus).readings_stored([reading("dev-1")])
    assert bus.published == []
