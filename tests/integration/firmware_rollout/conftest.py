"""Every DeploymentStore adapter behind one fixture; PostgreSQL gets a schema of its own per test, DynamoDB
(moto) a table of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.firmware.adapters.rollout_dynamodb import DynamoDbDeploymentStore
from services.firmware.adapters.rollout_memory import InMemoryDeploymentStore
from services.firmware.adapters.rollout_postgres import PostgresDeploymentStore
from services.firmware.adapters.rollout_sqlite import SqliteDeploymentStore
from tests.support.stores import STORE_KINDS, StoreAdapters, open_store

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

Store = InMemoryDeploymentStore | SqliteDeploymentStore | PostgresDeploymentStore | DynamoDbDeploymentStore
# The contract's short lease (0.2 s, checked 0.35 s later) leaves room for this much tolerated clock skew.
LEASE_SKEW_SECONDS = 0.1


async def _dynamodb(client: DynamoDBClient, table: str) -> Store:
    dynamodb = DynamoDbDeploymentStore(client, table, skew_tolerance_seconds=LEASE_SKEW_SECONDS)
    await dynamodb.ensure_table()
    return dynamodb


ADAPTERS = StoreAdapters[Store](
    "rollout",
    memory=InMemoryDeploymentStore,
    sqlite=SqliteDeploymentStore,
    postgres=lambda dsn, schema: PostgresDeploymentStore.open(dsn, schema=schema),
    dynamodb=_dynamodb,
)


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_store(request.param, ADAPTERS, tmp_path, request) as opened:
        yield opened
