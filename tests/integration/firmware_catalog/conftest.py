"""Every FirmwareStore adapter behind one fixture; PostgreSQL gets a schema of its own per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.firmware.adapters.catalog_memory import InMemoryFirmwareStore
from services.firmware.adapters.catalog_postgres import PostgresFirmwareStore
from services.firmware.adapters.catalog_sqlite import SqliteFirmwareStore
from services.firmware.ports import FirmwareStore
from tests.support.postgres import POSTGRES_DSN, scratch_schema


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.needs_server)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FirmwareStore]:
    if request.param == "memory":
        yield InMemoryFirmwareStore()
    elif request.param == "sqlite":
        sqlite = SqliteFirmwareStore(tmp_path / "firmware.db")
        yield sqlite
        await sqlite.close()
    else:
        async with scratch_schema("firmware") as schema:
            postgres = await PostgresFirmwareStore.open(POSTGRES_DSN, schema=schema)
            try:
                yield postgres
            finally:
                await postgres.close()
