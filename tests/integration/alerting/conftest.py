"""Every AlertingStore adapter behind one fixture; PostgreSQL gets a schema of its own per test, DynamoDB
(moto) tables of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.alerting.adapters.memory import InMemoryAlertingStore
from services.alerting.adapters.postgres import PostgresAlertingStore
from services.alerting.adapters.sqlite import SqliteAlertingStore
from services.alerting.ports import AlertingStore
from tests.support.dynamodb import moto_dynamodb, unique_name
from tests.support.postgres import POSTGRES_DSN, scratch_schema


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.needs_server),
        pytest.param("dynamodb", marks=pytest.mark.needs_server),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AlertingStore]:
    if request.param == "memory":
        yield InMemoryAlertingStore()
    elif request.param == "sqlite":
        sqlite = SqliteAlertingStore(tmp_path / "alerting.db")
        yield sqlite
        await sqlite.close()
    elif request.param == "dynamodb":
        from services.alerting.adapters.dynamodb import DynamoDbAlertingStore

        async with moto_dynamodb(request) as client:
            dynamodb = DynamoDbAlertingStore(client, unique_name("alerting") + "-")
            await dynamodb.ensure_tables()
            yield dynamodb
    else:
        async with scratch_schema("alerting") as schema:
            postgres = await PostgresAlertingStore.open(POSTGRES_DSN, schema=schema)
            try:
                yield postgres
            finally:
                await postgres.close()
