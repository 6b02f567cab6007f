"""How every PostgreSQL adapter opens its pool and creates its tables.

A store may live in a schema of its own (one per test run, or per deployment sharing a database): its tables
are then named with the schema as a prefix, so every statement says which tables it means whatever the
connection's search_path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.kernel.pagination import Page, PageRequest

T = TypeVar("T")


def schema_prefix(schema: str | None) -> str:
    """What goes before a table name: `"schema".` in a schema of its own, nothing in the default one."""
    return f'"{schema}".' if schema else ""


async def create_schema(connection: asyncpg.Connection | PoolConnectionProxy[Any], schema: str) -> None:
    # Another replica may create it at the same moment: IF NOT EXISTS does not cover that race.
    with contextlib.suppress(asyncpg.UniqueViolationError):
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


async def open_pool(
    dsn: str,
    tables_sql: Callable[[str], str],
    *,
    schema: str | None = None,
    max_size: int = 4,
    **pool_options: Any,
) -> tuple[asyncpg.Pool, str]:
    """Connect and create the tables when missing (in `schema` when given); returns the pool and the prefix.

    `tables_sql(prefix)` is the DDL with every table name prefixed (CREATE … IF NOT EXISTS throughout).
    """
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, **pool_options)
    prefix = schema_prefix(schema)
    try:
        async with pool.acquire() as connection:
            if schema:
                await create_schema(connection, schema)
            await connection.execute(tables_sql(prefix))
    except BaseException:
        await pool.close()
        raise
    return pool, prefix


async def fetch_page(
    pool: asyncpg.Pool,
    page: PageRequest,
    convert: Callable[[asyncpg.Record], T],
    *,
    columns: str,
    source: str,
    parameters: Sequence[Any] = (),
    order_by: str,
) -> Page[T]:
    """One page of `SELECT columns source ORDER BY order_by`, with the count of every row `source` gives.

    `source` is `FROM table [WHERE …]`, its placeholders $1 … $n standing for `parameters`.
    """
    total = await pool.fetchval(f"SELECT count(*) {source}", *parameters)
    n = len(parameters)
    rows = await pool.fetch(
        f"SELECT {columns} {source} ORDER BY {order_by} LIMIT ${n + 1} OFFSET ${n + 2}",
        *parameters,
        page.page_size,
        page.offset,
    )
    return Page([convert(row) for row in rows], page, int(total))
