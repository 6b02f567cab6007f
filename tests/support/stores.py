"""One store contract, every adapter: memory, SQLite (a file in the test's tmp_path), PostgreSQL (a schema of its
own per test, dropped afterwards) and DynamoDB (the session's moto server, a table of its own per test).

A contract suite parametrizes its fixture with STORE_KINDS and opens the store with `open_store`, saying how
each adapter is built (`StoreAdapters`); the servers' tests skip cleanly when the server is absent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import pytest

from tests.support.dynamodb import moto_dynamodb, unique_name
from tests.support.postgres import POSTGRES_DSN, scratch_schema

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

STORE_KINDS: list[Any] = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.needs_server),
    pytest.param("dynamodb", marks=pytest.mark.needs_server),
]


class Closable(Protocol):
    async def close(self) -> None: ...


S = TypeVar("S", bound=Closable)


@dataclass(frozen=True)
class StoreAdapters(Generic[S]):
    """How to build one store on each backend. `name` names the SQLite file, the PostgreSQL schema and the
    DynamoDB table; `dynamodb` returns a store whose tables exist (import the adapter inside it: aioboto3 is
    an optional extra)."""

    name: str
    memory: Callable[[], S]
    sqlite: Callable[[Path], S]
    postgres: Callable[[str, str], Awaitable[S]]  # (dsn, schema)
    dynamodb: Callable[[DynamoDBClient, str], Awaitable[S]]  # (client, table name)


@asynccontextmanager
async def open_store(
    kind: str, adapters: StoreAdapters[S], tmp_path: Path, request: pytest.FixtureRequest | None = None
) -> AsyncIterator[S]:
    """The store of `kind` ("memory", "sqlite", "postgres" or "dynamodb"), closed (and its schema dropped)
    at the end of the block; `request` (the test's) reaches the moto server."""
    if kind == "dynamodb":
        assert request is not None, "DynamoDB needs the test's request for the moto server"
        async with moto_dynamodb(request) as client:
            yield await adapters.dynamodb(client, unique_name(adapters.name))
        return
    if kind == "postgres":
        async with scratch_schema(adapters.name.replace("-", "_")) as schema:
            postgres = await adapters.postgres(POSTGRES_DSN, schema)
            try:
                yield postgres
            finally:
                await postgres.close()
        return
    store = adapters.memory() if kind == "memory" else adapters.sqlite(tmp_path / f"{adapters.name}.db")
    try:
        yield store
    finally:
        await store.close()
