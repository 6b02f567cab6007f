"""One contract for every UsageStore (§6.4): memory, SQLite, PostgreSQL and DynamoDB (moto). Events count once
by id (also when two stores share the database, as replicas do), devices count once per month, organizations
are listed per month, and reports are stored, replaced and read back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.analytics.adapters.usage_memory import InMemoryUsageStore
from services.analytics.adapters.usage_postgres import PostgresUsageStore
from services.analytics.adapters.usage_sqlite import SqliteUsageStore
from services.analytics.domain.usage import MonthReadings, MonthUsage, UsageReport
from services.analytics.usage_ports import UsageStore
from tests.support.stores import STORE_KINDS, StoreAdapters, open_store

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient


async def _dynamodb(client: DynamoDBClient, table: str) -> UsageStore:
    from services.analytics.adapters.usage_dynamodb import DynamoDbUsageStore

    dynamodb = DynamoDbUsageStore(client, table)
    await dynamodb.ensure_table()
    return dynamodb


ADAPTERS = StoreAdapters[UsageStore](
    "usage",
    memory=InMemoryUsageStore,
    sqlite=SqliteUsageStore,
    postgres=lambda dsn, schema: PostgresUsageStore.open(dsn, schema=schema),
    dynamodb=_dynamodb,
)


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UsageStore]:
    async with open_store(request.param, ADAPTERS, tmp_path, request) as opened:
        yield opened


def part(month: str, messages: int, devices: set[str]) -> MonthReadings:
    return MonthReadings(month, messages, messages * 32, frozenset(devices))


async def test_events_count_once_and_devices_once_per_month(store: UsageStore) -> None:
    assert await store.add_readings("evt-1", "org-a", [part("2025-09", 3, {"dev-1", "dev-2"})])
    assert not await store.add_readings("evt-1", "org-a", [part("2025-09", 3, {"dev-1", "dev-2"})])
    assert await store.add_readings(
        "evt-2", "org-a", [part("2025-09", 2, {"dev-2", "dev-3"}), part("2025-10", 1, {"dev-1"})]
    )
    assert await store.add_api_calls("evt-3", "org-a", "2025-09", 10)
    assert not await store.add_api_calls("evt-3", "org-a", "2025-09", 10)
    assert await store.add_api_calls("evt-4", "org-b", "2025-09", 5)
    assert await store.month_usage("org-a", "2025-09") == MonthUsage("org-a", "2025-09", 160, 5, 3, 10)
    assert await store.month_usage("org-a", "2025-10") == MonthUsage("org-a", "2025-10", 32, 1, 1, 0)
    assert await store.month_usage("org-b", "2025-09") == MonthUsage("org-b", "2025-09", 0, 0, 0, 5)
    assert await store.month_usage("org-c", "2025-09") == MonthUsage("org-c", "2025-09")
    assert await store.organizations("2025-09") == ["org-a", "org-b"]
    assert await store.organizations("2025-10") == ["org-a"]
    assert await store.organizations("2025-11") == []


async def test_concurrent_deliveries_of_one_event_count_it_once(store: UsageStore) -> None:
    results = await asyncio.gather(*(store.add_api_calls("evt-same", "org-a", "2025-09", 7) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert (await store.month_usage("org-a", "2025-09")).api_calls == 7


async def test_reports_are_stored_replaced_and_read(store: UsageStore) -> None:
    first = UsageReport(MonthUsage("org-a", "2025-09", 160, 5, 3, 10), 1.25, "USD", 1000)
    await store.save_report(first)
    assert await store.get_report("org-a", "2025-09") == first
    assert await store.get_report("org-a", "2025-10") is None
    assert await store.get_report("org-b", "2025-09") is None
    second = UsageReport(MonthUsage("org-a", "2025-09", 320, 9, 4, 11), 2.5, "EUR", 2000)
    await store.save_report(second)
    assert await store.get_report("org-a", "2025-09") == second


async def test_old_event_ids_are_forgotten(store: UsageStore) -> None:
    assert await store.add_api_calls("evt-1", "org-a", "2025-09", 1)
    assert await store.forget_events_before(0) == 0
    assert await store.forget_events_before(2**62) == 1


async def test_a_part_with_no_new_devices_still_counts_its_messages(store: UsageStore) -> None:
    # The usage service sends each device once a month, so most parts name none.
    assert await store.add_readings("evt-1", "org-a", [part("2025-09", 2, {"dev-1"})])
    assert await store.add_readings("evt-2", "org-a", [part("2025-09", 5, set())])
    usage = await store.month_usage("org-a", "2025-09")
    assert (usage.messages, usage.data_bytes, usage.devices) == (7, 7 * 32, 1)
