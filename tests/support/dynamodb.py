"""DynamoDB on the session's moto server for the contract suites: a client and a unique table name each.

Skipped cleanly when moto (the `dev` extra) or aioboto3 (the `aws` extra) is not installed, unless
IOTMON_REQUIRE_SERVICES=1 asks for every backend.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from tests.support.moto import REGION

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient


def require_moto() -> None:
    missing = [name for name in ("moto", "aioboto3") if importlib.util.find_spec(name) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (pip install -e '.[dev]')"
    if os.environ.get("IOTMON_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and IOTMON_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)


def unique_name(prefix: str) -> str:
    """Tables of one moto server are shared by the session's tests: each test takes names of its own."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def moto_dynamodb(request: pytest.FixtureRequest) -> AsyncIterator[DynamoDBClient]:
    """A DynamoDB client on the session's moto server (the `moto_endpoint` fixture).

    One connection, so the client's requests reach moto one at a time: moto runs concurrent
    TransactWriteItems without isolation (each copies the table and, when it fails, restores that copy over
    the other's write), where DynamoDB serializes transactions on the same item. The adapters' own
    interleavings (several requests per operation, coroutines racing for one item) still happen.
    """
    require_moto()
    import aioboto3
    from aiobotocore.config import AioConfig

    endpoint = request.getfixturevalue("moto_endpoint")
    one_at_a_time = AioConfig(max_pool_connections=1)
    async with aioboto3.Session().client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, config=one_at_a_time
    ) as client:
        yield client


async def table_names(client: DynamoDBClient) -> set[str]:
    """Every table on the server: ListTables answers 100 names a page, and the session's tests make more."""
    names: set[str] = set()
    async for page in client.get_paginator("list_tables").paginate():
        names.update(page["TableNames"])
    return names
