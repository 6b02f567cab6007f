"""Every CounterStore adapter behind one fixture: memory, SQLite, PostgreSQL (a schema per test) and DynamoDB
(moto, a table per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.analytics.adapters.store_memory import InMemoryCounterStore
from services.analytics.adapters.store_sqlite import SqliteCounterStore
from services.analytics.ports import CounterStore
from tests.support.dynamodb import moto_dynamodb, unique_name
from tests.support.postgres import POSTGRES_DSN, drop_schema, new_schema


@pytest.fixture(params=["memory", "sqlite", "postgres", pytest.param("dynamodb", marks=pytest.mark.needs_server)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CounterStore]:
    opened: CounterStore
    schema = None
    if request.param == "memory":
        opened = InMemoryCounterStore()
    elif request.param == "sqlite":
        opened = SqliteCounterStore(tmp_path / "analytics.db")
    elif request.param == "dynamodb":
        from services.analytics.adapters.store_dynamodb import DynamoDbCounterStore

        async with moto_dynamodb(request) as client:
            dynamodb = DynamoDbCounterStore(client, unique_name("analytics"))
            await dynamodb.ensure_table()
            yield dynamodb
        return
    else:
        from services.analytics.adapters.store_postgres import PostgresCounterStore

        schema = new_schema("analytics")
        opened = await PostgresCounterStore.open(POSTGRES_DSN, schema=schema)
    try:
        yield opened
    finally:
        await opened.close()
        if schema:
            await drop_schema(schema)
