"""Every FirmwareStore adapter behind one fixture; PostgreSQL gets a schema of its own per test, DynamoDB (moto)
a table of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.firmware.adapters.catalog_memory import InMemoryFirmwareStore
from services.firmware.adapters.catalog_postgres import PostgresFirmwareStore
from services.firmware.adapters.catalog_sqlite import SqliteFirmwareStore
from services.firmware.ports import FirmwareStore
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
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FirmwareStore]:
    if request.param == "memory":
        yield InMemoryFirmwareStore()
    elif request.param == "sqlite":
        sqlite = SqliteFirmwareStore(tmp_path / "firmware.db")
        yield sqlite
        await sqlite.close()
    elif request.param == "dynamodb":
        from services.firmware.adapters.catalog_dynamodb import DynamoDbFirmwareStore

        async with moto_dynamodb(request) as client:
            dynamodb = DynamoDbFirmwareStore(client, unique_name("firmware"))
            await dynamodb.ensure_table()
            yield dynamodb
    else:
        async with scratch_schema("firmware") as schema:
            postgres = await PostgresFirmwareStore.open(POSTGRES_DSN, schema=schema)
            try:
                yield postgres
            finally:
                await postgres.close()
