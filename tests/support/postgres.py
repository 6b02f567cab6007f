"""The local PostgreSQL server for tests: a schema of its own per test, dropped afterwards with all it holds."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from tests.support.servers import require_server

POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def require_postgres() -> None:
    require_server("PostgreSQL", "127.0.0.1", 5432)


def new_schema(prefix: str) -> str:
    """A fresh schema name; skips (or fails, when required) the test without a server."""
    require_postgres()
    return f"{prefix}_{secrets.token_hex(5)}"


async def drop_schema(schema: str, dsn: str = POSTGRES_DSN) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


@asynccontextmanager
async def scratch_schema(prefix: str, dsn: str = POSTGRES_DSN) -> AsyncIterator[str]:
    """A fresh schema name for the block, the schema (if the block created it) dropped at its end."""
    schema = new_schema(prefix)
    try:
        yield schema
    finally:
        await drop_schema(schema, dsn)
