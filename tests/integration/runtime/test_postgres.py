"""Opening a PostgreSQL store on the local server: its schema, its tables, and the pool left open or closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.kernel.pagination import PageRequest
from services.runtime.postgres import create_schema, fetch_page, open_pool, schema_prefix
from tests.support.postgres import POSTGRES_DSN, scratch_schema

pytestmark = pytest.mark.needs_server


def tables_sql(prefix: str) -> str:
    return f"CREATE TABLE IF NOT EXISTS {prefix}things (thing_id TEXT PRIMARY KEY, size INTEGER NOT NULL)"


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with scratch_schema("runtime_test") as name:
        yield name


async def tables_in(schema: str) -> set[str]:
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        rows = await connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
    finally:
        await connection.close()
    return {row["table_name"] for row in rows}


def test_the_prefix_names_the_schema_only_when_there_is_one() -> None:
    assert schema_prefix("s1") == '"s1".'
    assert schema_prefix(None) == ""
    assert schema_prefix("") == ""


async def test_the_tables_are_created_in_the_schema_and_the_prefix_reaches_them(schema: str) -> None:
    pool, prefix = await open_pool(POSTGRES_DSN, tables_sql, schema=schema, max_size=2)
    try:
        assert prefix == f'"{schema}".'
        await pool.execute(f"INSERT INTO {prefix}things VALUES ('a', 3)")
        assert await pool.fetchval(f"SELECT size FROM {prefix}things WHERE thing_id = 'a'") == 3
        assert pool.get_max_size() == 2
    finally:
        await pool.close()
    assert await tables_in(schema) == {"things"}


async def test_opening_again_keeps_the_tables_and_their_rows(schema: str) -> None:
    first, prefix = await open_pool(POSTGRES_DSN, tables_sql, schema=schema)
    await first.execute(f"INSERT INTO {prefix}things VALUES ('kept', 1)")
    await first.close()
    second, _ = await open_pool(POSTGRES_DSN, tables_sql, schema=schema)
    try:
        assert await second.fetchval(f"SELECT count(*) FROM {prefix}things") == 1
    finally:
        await second.close()


async def test_replicas_creating_one_schema_at_once_all_succeed(schema: str) -> None:
    connections = await asyncio.gather(*(asyncpg.connect(POSTGRES_DSN) for _ in range(4)))
    try:
        await asyncio.gather(*(create_schema(connection, schema) for connection in connections))
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        found = await connection.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema)
    finally:
        await connection.close()
    assert found == 1


async def test_a_failing_ddl_closes_the_pool_it_opened(schema: str) -> None:
    application = f"open_pool_{schema}"

    def broken(prefix: str) -> str:
        return f"CREATE TABLE {prefix}things (thing_id NO_SUCH_TYPE)"

    with pytest.raises(asyncpg.UndefinedObjectError):
        await open_pool(POSTGRES_DSN, broken, schema=schema, server_settings={"application_name": application})
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        left = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", application
        )
    finally:
        await connection.close()
    assert left == 0


async def test_fetch_page_numbers_its_limit_after_the_filter_parameters(schema: str) -> None:
    pool, prefix = await open_pool(POSTGRES_DSN, tables_sql, schema=schema)
    try:
        await pool.executemany(f"INSERT INTO {prefix}things VALUES ($1, $2)", [(f"t{n}", n) for n in range(7)])
        page = await fetch_page(
            pool,
            PageRequest(page=2, page_size=2),
            lambda row: str(row["thing_id"]),
            columns="thing_id",
            source=f"FROM {prefix}things WHERE size >= $1",
            parameters=[2],
            order_by="size",
        )
    finally:
        await pool.close()
    assert page.items == ["t4", "t5"]
    assert page.total_items == 5
