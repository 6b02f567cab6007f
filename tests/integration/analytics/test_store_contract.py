"""The CounterStore contract, run against memory, SQLite and PostgreSQL: all must give the same answers."""

from __future__ import annotations

import asyncio

from services.analytics.domain.dashboard import Snapshot
from services.analytics.domain.facts import AlertFact, DeviceFact
from services.analytics.ports import CounterStore

T = 1_763_114_400_000  # 2025-11-14T10:00:00Z
ORG, OTHER = "org-a", "org-b"
DAY1, DAY2 = "2025-11-14", "2025-11-15"


def device(device_id: str, status: str, at: int = T, org: str = ORG) -> DeviceFact:
    return DeviceFact(org, device_id, status, at)


def alert(alert_id: str, severity: str, active: bool, at: int = T, org: str = ORG) -> AlertFact:
    return AlertFact(org, alert_id, severity, active, at)


async def test_device_facts_move_counters_and_ignore_repeats_and_stale_ones(store: CounterStore) -> None:
    await store.apply_devices([device("d1", "registered"), device("d2", "registered"), device("d3", "online")], DAY1)
    await store.apply_devices([device("d1", "online", T + 5), device("d2", "maintenance", T + 5)], DAY1)
    await store.apply_devices([device("d1", "online", T + 5)], DAY1)  # redelivered
    await store.apply_devices([device("d2", "offline", T + 1)], DAY1)  # older than what is stored
    await store.apply_devices([device("d3", "deleted", T + 9), device("x", "online", org=OTHER)], DAY1)

    numbers = await store.numbers(ORG, DAY1)

    live = {k: v for k, v in numbers.counters.items() if v}
    assert live == {"device:online": 1, "device:maintenance": 1}
    assert await store.live_device_ids(ORG) == {"d1", "d2"}
    assert (await store.numbers(OTHER, DAY1)).counters.get("device:online") == 1


async def test_alerts_count_until_resolved_even_when_events_come_twice_or_out_of_order(store: CounterStore) -> None:
    await store.apply_alerts([alert("a1", "critical", True), alert("a2", "warning", True)], DAY1)
    await store.apply_alerts([alert("a1", "critical", True)], DAY1)
    await store.apply_alerts([alert("a3", "info", False, T + 9)], DAY1)  # resolved seen first
    await store.apply_alerts([alert("a3", "info", True, T)], DAY1)  # its trigger, late: stays uncounted
    await store.apply_alerts([alert("a2", "warning", False, T + 9), alert("a2", "warning", False, T + 9)], DAY1)

    numbers = await store.numbers(ORG, DAY1)

    assert {k: v for k, v in numbers.counters.items() if v} == {"alert:critical": 1}
    assert await store.active_alert_ids(ORG) == {"a1"}


async def test_volume_is_added_once_per_event_and_reconciliation_overwrites(store: CounterStore) -> None:
    assert await store.add_volume("evt-1", ORG, {DAY1: 160, "2025-11-01": 32})
    assert not await store.add_volume("evt-1", ORG, {DAY1: 160})
    assert await store.add_volume("evt-2", ORG, {DAY1: 16})
    assert await store.add_volume("evt-3", OTHER, {DAY1: 1000})
    await store.add_volume("evt-4", ORG, {"2025-10-31": 999})  # last month: not this month's

    numbers = await store.numbers(ORG, DAY1)
    assert (numbers.volume_today, numbers.volume_month) == (176, 208)

    await store.set_volume(ORG, {DAY1: 48, "2025-11-13": 0})
    numbers = await store.numbers(ORG, DAY1)
    assert (numbers.volume_today, numbers.volume_month) == (48, 80)


async def test_the_baseline_is_the_last_snapshot_before_today(store: CounterStore) -> None:
    await store.apply_devices([device("d1", "online"), device("d2", "online")], "2025-11-13")
    await store.apply_alerts([alert("a1", "critical", True)], "2025-11-13")
    await store.apply_devices([device("d2", "offline", T + 1)], DAY1)
    await store.apply_devices([device("d3", "online", T + 2)], DAY2)

    assert (await store.numbers(ORG, "2025-11-13")).baseline is None
    assert (await store.numbers(ORG, DAY1)).baseline == Snapshot("2025-11-13", 2, 1)
    assert (await store.numbers(ORG, DAY2)).baseline == Snapshot(DAY1, 1, 1)
    # A day without changes: yesterday's numbers are the last ones written before today.
    assert (await store.numbers(ORG, "2025-11-20")).baseline == Snapshot(DAY2, 2, 1)


async def test_reconciliation_time_and_forgetting_event_ids(store: CounterStore) -> None:
    assert (await store.numbers(ORG, DAY1)).reconciled_at_ms is None
    await store.mark_reconciled(ORG, T)
    await store.mark_reconciled(ORG, T + 60_000)
    assert (await store.numbers(ORG, DAY1)).reconciled_at_ms == T + 60_000

    await store.add_volume("evt-old", ORG, {DAY1: 16})
    assert await store.forget_events_before(0) == 0
    await asyncio.sleep(0.01)
    assert await store.forget_events_before(2**62) == 1
    assert await store.add_volume("evt-old", ORG, {DAY1: 16})  # forgotten: would count again
