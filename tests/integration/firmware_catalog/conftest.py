"""Every FirmwareStore adapter behind one fixture; PostgreSQL gets a schema of its own per test, DynamoDB (moto)
a table of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.firmware.adapters.catalog_memory import InMemoryFirmwareStore
from services.firmware.adapters.catalog_postgres import PostgresFirmwareStore
from services.firmware.adapters.catalog_sqlite import SqliteFirmwareStore
from services.firmware.ports import FirmwareStore
from tests.support.stores import STORE_KINDS, StoreAdapters, open_store

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient


async def _dynamodb(client: DynamoDBClient, table: str) -> FirmwareStore:
    from services.firmware.adapters.catalog_dynamodb import DynamoDbFirmwareStore

    dynamodb = DynamoDbFirmwareStore(client, table)
    await dynamodb.ensure_table()
    return dynamodb


ADAPTERS = StoreAdapters[FirmwareStore](
    "firmware",
    memory=InMemoryFirmwareStore,
    sqlite=SqliteFirmwareStore,
    postgres=lambda dsn, schema: PostgresFirmwareStore.open(dsn, schema=schema),
    dynamodb=_dynamodb,
)


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FirmwareStore]:
    async with open_store(request.param, ADAPTERS, tmp_path, request) as opened:
        yield opened
