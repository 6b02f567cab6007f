"""Every AlertingStore adapter behind one fixture; PostgreSQL gets a schema of its own per test, DynamoDB
(moto) tables of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.alerting.adapters.memory import InMemoryAlertingStore
from services.alerting.adapters.postgres import PostgresAlertingStore
from services.alerting.adapters.sqlite import SqliteAlertingStore
from services.alerting.ports import AlertingStore
from tests.support.stores import STORE_KINDS, StoreAdapters, open_store

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient


async def _dynamodb(client: DynamoDBClient, table_prefix: str) -> AlertingStore:
    from services.alerting.adapters.dynamodb import DynamoDbAlertingStore

    dynamodb = DynamoDbAlertingStore(client, table_prefix + "-")
    await dynamodb.ensure_tables()
    return dynamodb


ADAPTERS = StoreAdapters[AlertingStore](
    "alerting",
    memory=InMemoryAlertingStore,
    sqlite=SqliteAlertingStore,
    postgres=lambda dsn, schema: PostgresAlertingStore.open(dsn, schema=schema),
    dynamodb=_dynamodb,
)


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AlertingStore]:
    async with open_store(request.param, ADAPTERS, tmp_path, request) as opened:
        yield opened
