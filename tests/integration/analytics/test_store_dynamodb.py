"""The DynamoDB CounterStore under concurrent writers (moto in server mode): counters move by atomic ADDs, a
fact's item is compare-and-set, and an event id is counted once however many deliveries race."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.analytics.adapters.store_dynamodb import DynamoDbCounterStore
from services.analytics.domain.facts import DeviceFact
from tests.support.dynamodb import moto_dynamodb, unique_name

pytestmark = pytest.mark.needs_server

T = 1_763_114_400_000
DAY = "2025-11-14"


@pytest.fixture
async def store(request: pytest.FixtureRequest) -> AsyncIterator[DynamoDbCounterStore]:
    async with moto_dynamodb(request) as client:
        opened = DynamoDbCounterStore(client, unique_name("analytics"))
        await opened.ensure_table()
        yield opened


async def test_racing_deliveries_of_one_event_count_its_bytes_once(store: DynamoDbCounterStore) -> None:
    outcomes = await asyncio.gather(*(store.add_volume("evt-1", "org-a", {DAY: 16}) for _ in range(6)))
    assert sorted(outcomes) == [False] * 5 + [True]
    assert (await store.numbers("org-a", DAY)).volume_today == 16


async def test_racing_facts_keep_the_counters_equal_to_the_devices(store: DynamoDbCounterStore) -> None:
    statuses = ["online", "offline", "maintenance"]
    facts = [DeviceFact("org-a", f"d{i % 4}", statuses[i % 3], T + i) for i in range(24)]
    await asyncio.gather(*(store.apply_devices([fact], DAY) for fact in facts))

    numbers = await store.numbers("org-a", DAY)
    # Whatever order the facts won in, each device is counted once under its stored status.
    assert sum(numbers.counters.values()) == 4
    latest = {f.device_id: f.status for f in sorted(facts, key=lambda f: f.at_ms)}
    expected: dict[str, int] = {}
    for status in latest.values():
        expected[f"device:{status}"] = expected.get(f"device:{status}", 0) + 1
    assert {name: n for name, n in numbers.counters.items() if n} == expected
    snapshot = await store.numbers("org-a", "2025-11-15")
    assert snapshot.baseline is not None
    assert snapshot.baseline.devices_online == expected.get("device:online", 0)
