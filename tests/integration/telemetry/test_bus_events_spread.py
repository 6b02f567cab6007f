"""ReadingsStored on the in-process bus: one event per organization when the partition decides nothing (a
single member per partitioned group, as in `iotmon up`), per partition as soon as members share the group."""

from __future__ import annotations

from collections import defaultdict

from iot.telemetry.v1 import events_pb2

from services.runtime.bus import InProcessBus, partition_of
from services.telemetry.adapters.bus_events import READINGS_STORED, BusTelemetryEvents
from services.telemetry.domain.model import Reading

T0 = 1_762_768_800_000
PARTITIONS = 8


def batch() -> list[Reading]:
    return [
        Reading(f"dev-{i}", f"org-{i % 2}", "temperature-sensor-v2", T0 + i, {"temperature": 20.0 + i})
        for i in range(40)
    ]


class Receiver:
    def __init__(self) -> None:
        self.events: list[events_pb2.ReadingsStored] = []

    async def __call__(self, routing_key: str, payload: bytes) -> None:
        self.events.append(events_pb2.ReadingsStored.FromString(payload))

    def readings(self) -> list[tuple[str, str, int]]:
        return sorted(
            (e.meta.organization_id, r.device_id, r.timestamp.ToMilliseconds()) for e in self.events for r in e.readings
        )


def expected(readings: list[Reading]) -> list[tuple[str, str, int]]:
    return sorted((r.organization_id, r.device_id, r.timestamp_ms) for r in readings)


def test_only_several_members_of_a_partitioned_group_spread_partitions() -> None:
    bus = InProcessBus(partitions=PARTITIONS)
    assert not bus.spreads_partitions(READINGS_STORED), "nobody subscribed"
    bus.subscribe(READINGS_STORED, Receiver(), group="alerting", partitioned=True)
    bus.subscribe(READINGS_STORED, Receiver(), group="analytics")
    bus.subscribe(READINGS_STORED, Receiver(), group="analytics")  # round robin, not by partition
    bus.subscribe("telemetry.*", Receiver(), group=None)
    assert not bus.spreads_partitions(READINGS_STORED)
    bus.subscribe(READINGS_STORED, Receiver(), group="alerting", partitioned=True)
    assert bus.spreads_partitions(READINGS_STORED)
    assert not bus.spreads_partitions("telemetry.anomaly_detected")


async def test_one_event_per_organization_when_each_group_has_one_member() -> None:
    bus = InProcessBus(partitions=PARTITIONS)
    evaluator, watcher = Receiver(), Receiver()
    bus.subscribe(READINGS_STORED, evaluator, group="alerting", partitioned=True)
    bus.subscribe(READINGS_STORED, watcher, group=None)
    readings = batch()
    await BusTelemetryEvents(bus).readings_stored(readings)

    for receiver in (evaluator, watcher):
        assert len(receiver.events) == 2, "one event per organization, not per partition"
        assert receiver.readings() == expected(readings), "every reading once, under its own organization"
        for event in receiver.events:
            assert {r.device_id for r in event.readings} == {
                r.device_id for r in readings if r.organization_id == event.meta.organization_id
            }
    assert len({e.meta.event_id for e in evaluator.events}) == 2


async def test_each_event_counts_its_own_readings_per_utc_day() -> None:
    bus = InProcessBus(partitions=PARTITIONS)
    members = [Receiver(), Receiver()]
    for member in members:
        bus.subscribe(READINGS_STORED, member, group="alerting", partitioned=True)
    midnight = T0 - T0 % 86_400_000 + 86_400_000
    readings = [
        Reading(f"dev-{i % 7}", "org-1", "temperature-sensor-v2", midnight - 20 + i, {"t": 1.0, "h": 2.0})
        for i in range(40)
    ]
    await BusTelemetryEvents(bus).readings_stored(readings)

    events = members[0].events + members[1].events
    assert sum(len(e.readings) for e in events) == len(readings)
    for event in events:
        counted: dict[str, tuple[int, int, set[str]]] = {}
        for r in event.readings:
            day = r.timestamp.ToDatetime().strftime("%Y-%m-%d")
            n, points, devices = counted.get(day, (0, 0, set()))
            counted[day] = (n + 1, points + len(r.values), devices | {r.device_id})
        assert {d.day: (d.readings, d.datapoints, set(d.device_ids)) for d in event.days} == counted
        assert len(event.days) == 2, "each device's readings straddle midnight"


async def test_members_sharing_a_partitioned_group_get_only_their_partitions() -> None:
    bus = InProcessBus(partitions=PARTITIONS)
    members = [Receiver(), Receiver()]
    for member in members:
        bus.subscribe(READINGS_STORED, member, group="alerting", partitioned=True)
    readings = batch()
    await BusTelemetryEvents(bus).readings_stored(readings)

    partitions_of: dict[int, set[int]] = defaultdict(set)
    for index, member in enumerate(members):
        for event in member.events:
            partitions = {partition_of(r.device_id, PARTITIONS) for r in event.readings}
            assert len(partitions) == 1, "an event holds one partition's readings"
            partitions_of[index] |= partitions
    assert not partitions_of[0] & partitions_of[1], "a partition belongs to one member"
    assert sorted(members[0].readings() + members[1].readings()) == expected(readings)
