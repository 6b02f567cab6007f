"""Every DeploymentStore adapter behind one fixture; PostgreSQL gets a schema of its own per test, DynamoDB
(moto) a table of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.firmware.adapters.rollout_dynamodb import DynamoDbDeploymentStore
from services.firmware.adapters.rollout_memory import InMemoryDeploymentStore
from services.firmware.adapters.rollout_postgres import PostgresDeploymentStore
from services.firmware.adapters.rollout_sqlite import SqliteDeploymentStore
from tests.support.dynamodb import moto_dynamodb, unique_name
from tests.support.postgres import POSTGRES_DSN, scratch_schema

Store = InMemoryDeploymentStore | SqliteDeploymentStore | PostgresDeploymentStore | DynamoDbDeploymentStore
# The contract's short lease (0.2 s, checked 0.35 s later) leaves room for this much tolerated clock skew.
LEASE_SKEW_SECONDS = 0.1


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.needs_server),
        pytest.param("dynamodb", marks=pytest.mark.needs_server),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield InMemoryDeploymentStore()
    elif request.param == "sqlite":
        sqlite = SqliteDeploymentStore(tmp_path / "firmware.db")
        yield sqlite
        await sqlite.close()
    elif request.param == "dynamodb":
        async with moto_dynamodb(request) as client:
            dynamodb = DynamoDbDeploymentStore(
                client, unique_name("rollout"), skew_tolerance_seconds=LEASE_SKEW_SECONDS
            )
            await dynamodb.ensure_table()
            yield dynamodb
    else:
        async with scratch_schema("rollout") as schema:
            postgres = await PostgresDeploymentStore.open(POSTGRES_DSN, schema=schema)
            try:
                yield postgres
            finally:
                await postgres.close()
