"""Every DeploymentStore adapter behind one fixture; PostgreSQL gets a schema of its own per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.firmware.adapters.rollout_memory import InMemoryDeploymentStore
from services.firmware.adapters.rollout_postgres import PostgresDeploymentStore
from services.firmware.adapters.rollout_sqlite import SqliteDeploymentStore
from tests.support.postgres import POSTGRES_DSN, scratch_schema

Store = InMemoryDeploymentStore | SqliteDeploymentStore | PostgresDeploymentStore


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.needs_server)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield InMemoryDeploymentStore()
    elif request.param == "sqlite":
        sqlite = SqliteDeploymentStore(tmp_path / "firmware.db")
        yield sqlite
        await sqlite.close()
    else:
        async with scratch_schema("rollout") as schema:
            postgres = await PostgresDeploymentStore.open(POSTGRES_DSN, schema=schema)
            try:
                yield postgres
            finally:
                await postgres.close()
