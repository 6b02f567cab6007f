"""The analytics use cases over every store, with the peers faked: reconciliation converges the counters,
bus events are applied once, and the query refuses devices the organization does not own."""

from __future__ import annotations

from collections.abc import Collection

import pytest
from iot.common.v1 import common_pb2
from iot.device.v1 import device_pb2
from iot.device.v1 import events_pb2 as device_events
from iot.telemetry.v1 import events_pb2 as telemetry_events

from services.analytics.adapters.consumers import subscribe
from services.analytics.domain.facts import day_of
from services.analytics.domain.query import DevicesNotFound, QueryPlan, QueryRequest, SeriesData
from services.analytics.domain.reconcile import Reconciler
from services.analytics.domain.service import AnalyticsService
from services.analytics.ports import CounterStore
from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied
from services.runtime.bus import InProcessBus

T = 1_763_114_400_000  # 2025-11-14T10:00:00Z
ORG = "org-a"
USER = Caller("user-1", ORG, Role.VIEWER)


class FakeDevices:
    def __init__(self, statuses: dict[str, str]):
        self.statuses_by_id = statuses
        self.listings = 0

    async def counts(self, organization_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in self.statuses_by_id.values():
            counts[status] = counts.get(status, 0) + 1
        return counts

    async def statuses(self, organization_id: str) -> dict[str, str]:
        self.listings += 1
        return dict(self.statuses_by_id)


class FakeAlerts:
    def __init__(self, active: dict[str, str]):
        self.by_id = active

    async def counts(self, organization_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for severity in self.by_id.values():
            counts[severity] = counts.get(severity, 0) + 1
        return counts

    async def active(self, organization_id: str) -> dict[str, str]:
        return dict(self.by_id)


class FakeTelemetry:
    def __init__(self) -> None:
        self.daily_counts = {"2025-11-14": 10, "2025-11-02": 5}
        self.asked: list[QueryPlan] = []

    async def daily(self, organization_id: str, start_ms: int, end_ms: int) -> dict[str, int]:
        return dict(self.daily_counts)

    async def aggregate(self, organization_id: str, plan: QueryPlan) -> list[SeriesData]:
        self.asked.append(plan)
        return [SeriesData(plan.device_ids[0], plan.metrics[0], [(T, 21.5)])]

    async def owned(self, organization_id: str, device_ids: Collection[str]) -> set[str]:
        return {d for d in device_ids if d.startswith("mine-")}


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> int:
        return self.now


def build(store: CounterStore, devices: FakeDevices, alerts: FakeAlerts, clock: Clock) -> AnalyticsService:
    telemetry = FakeTelemetry()
    return AnalyticsService(
        store=store,
        reconciler=Reconciler(store, devices, alerts, telemetry),
        ownership=telemetry,
        series=telemetry,
        now_ms=clock,
        reconcile_every_ms=3_600_000,
    )


async def test_the_first_read_reconciles_and_later_reads_after_the_interval_converge(store: CounterStore) -> None:
    devices = FakeDevices({"d1": "online", "d2": "online", "d3": "registered", "d4": "maintenance"})
    alerts = FakeAlerts({"a1": "critical", "a2": "info"})
    clock = Clock()
    service = build(store, devices, alerts, clock)

    first = await service.dashboard(USER)

    assert (first.devices.total, first.devices.online, first.devices.offline, first.devices.maintenance) == (4, 2, 1, 1)
    assert (first.alerts.active, first.alerts.critical, first.alerts.info) == (2, 1, 1)
    assert (first.volume_today, first.volume_month) == (160, 240)  # 16 bytes per datapoint
    assert (first.devices_online_trend, first.active_alerts_trend) == ("0%", "0%")  # no baseline yet

    # Events missed meanwhile; counts agree again after the next reconciliation (an hour later, next day).
    devices.statuses_by_id.update({"d3": "online", "d5": "online"})
    del devices.statuses_by_id["d4"]
    alerts.by_id = {"a1": "critical"}
    clock.now = T + 15 * 3_600_000  # 2025-11-15T01:00Z
    stale = await service.dashboard(USER)  # answers at once, reconciles in the background
    await service.wait_reconciled()
    fresh = await service.dashboard(USER)

    assert stale.devices.online == 2
    assert (fresh.devices.total, fresh.devices.online, fresh.alerts.active) == (4, 4, 1)
    assert (fresh.devices_online_trend, fresh.active_alerts_trend) == ("+100%", "-50%")
    assert devices.listings == 2


async def test_counts_that_agree_need_no_listing(store: CounterStore) -> None:
    devices = FakeDevices({"d1": "online"})
    service = build(store, devices, FakeAlerts({}), Clock())
    await service.on_devices([])
    bus = InProcessBus()
    subscribe(bus, service)
    meta = common_pb2.EventMeta(event_id="e1", organization_id=ORG)
    meta.occurred_at.FromMilliseconds(T)
    device = device_pb2.Device(device_id="d1", status="online", organization_id=ORG)
    await bus.publish("device.registered", device_events.DeviceRegistered(meta=meta, device=device))

    stats = await service.dashboard(USER)

    assert stats.devices.online == 1
    assert devices.listings == 0


async def test_readings_events_count_bytes_once_per_event_id(store: CounterStore) -> None:
    clock = Clock()
    service = build(store, FakeDevices({}), FakeAlerts({}), clock)
    await store.mark_reconciled(ORG, T)  # no reconciliation: only the events count
    bus = InProcessBus()
    subscribe(bus, service)
    event = telemetry_events.ReadingsStored(meta=common_pb2.EventMeta(event_id="evt-1-p3", organization_id=ORG))
    for minute in range(3):
        reading = event.readings.add(device_id="d1")
        reading.timestamp.FromMilliseconds(T + minute * 60_000)
        reading.values.update({"temperature": 20.0, "humidity": 40.0})

    await bus.publish("telemetry.readings_stored", event)
    await bus.publish("telemetry.readings_stored", event)  # redelivered

    stats = await service.dashboard(USER)
    assert (stats.volume_today, stats.volume_month) == (96, 96)


async def test_readings_events_with_per_day_counts_are_counted_from_the_counts(store: CounterStore) -> None:
    clock = Clock()
    service = build(store, FakeDevices({}), FakeAlerts({}), clock)
    await store.mark_reconciled(ORG, T)
    bus = InProcessBus()
    subscribe(bus, service)
    # Telemetry's counts of the event's readings; the readings themselves are not walked again.
    event = telemetry_events.ReadingsStored(meta=common_pb2.EventMeta(event_id="evt-2-p0", organization_id=ORG))
    event.days.add(day=day_of(T), readings=3, datapoints=6, device_ids=["d1"])
    event.days.add(day=day_of(T - 86_400_000), readings=1, datapoints=4, device_ids=["d1"])

    await bus.publish("telemetry.readings_stored", event)
    await bus.publish("telemetry.readings_stored", event)  # redelivered

    stats = await service.dashboard(USER)
    assert stats.volume_today == 96
    assert stats.volume_month == (96 + 64 if day_of(T - 86_400_000)[:7] == day_of(T)[:7] else 96)


async def test_the_query_refuses_devices_of_another_organization_naming_them(store: CounterStore) -> None:
    service = build(store, FakeDevices({}), FakeAlerts({}), Clock())
    request = QueryRequest(("mine-1", "theirs-1", "gone-2"), ("temperature",), T, T + 3_600_000, "15m", "max")

    with pytest.raises(DevicesNotFound) as refused:
        await service.query(USER, request)
    assert refused.value.device_ids == ["theirs-1", "gone-2"]
    assert refused.value.details == {"deviceIds": "theirs-1, gone-2"}

    result = await service.query(USER, QueryRequest(("mine-1",), ("temperature",), T, T + 3_600_000, "15m", "max"))
    assert [(s.device_id, s.metric, s.points) for s in result.series] == [("mine-1", "temperature", [(T, 21.5)])]
    with pytest.raises(PermissionDenied):
        await service.dashboard(Caller.service("other"))
