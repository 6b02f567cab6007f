"""Every CounterStore adapter behind one fixture: memory, SQLite, PostgreSQL (a schema per test) and DynamoDB
(moto, a table per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.analytics.adapters.store_memory import InMemoryCounterStore
from services.analytics.adapters.store_sqlite import SqliteCounterStore
from services.analytics.ports import CounterStore
from tests.support.stores import STORE_KINDS, StoreAdapters, open_store

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient


async def _postgres(dsn: str, schema: str) -> CounterStore:
    from services.analytics.adapters.store_postgres import PostgresCounterStore

    return await PostgresCounterStore.open(dsn, schema=schema)


async def _dynamodb(client: DynamoDBClient, table: str) -> CounterStore:
    from services.analytics.adapters.store_dynamodb import DynamoDbCounterStore

    dynamodb = DynamoDbCounterStore(client, table)
    await dynamodb.ensure_table()
    return dynamodb


ADAPTERS = StoreAdapters[CounterStore](
    "analytics",
    memory=InMemoryCounterStore,
    sqlite=SqliteCounterStore,
    postgres=_postgres,
    dynamodb=_dynamodb,
)


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CounterStore]:
    async with open_store(request.param, ADAPTERS, tmp_path, request) as opened:
        yield opened
