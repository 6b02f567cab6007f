"""Every AlertingStore adapter behind one fixture; PostgreSQL gets a schema of its own per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.alerting.adapters.memory import InMemoryAlertingStore
from services.alerting.adapters.postgres import PostgresAlertingStore
from services.alerting.adapters.sqlite import SqliteAlertingStore
from services.alerting.ports import AlertingStore
from tests.support.servers import require_server

POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def new_schema() -> str:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    return f"alerting_{uuid.uuid4().hex[:10]}"


async def drop_schema(schema: str) -> None:
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.needs_server)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AlertingStore]:
    if request.param == "memory":
        yield InMemoryAlertingStore()
    elif request.param == "sqlite":
        sqlite = SqliteAlertingStore(tmp_path / "alerting.db")
        yield sqlite
        await sqlite.close()
    else:
        schema = new_schema()
        postgres = await PostgresAlertingStore.open(POSTGRES_DSN, schema=schema)
        try:
            yield postgres
        finally:
            await postgres.close()
            await drop_schema(schema)
