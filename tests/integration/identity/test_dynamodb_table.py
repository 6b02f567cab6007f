"""The DynamoDB adapter creates its table once and works with a table made by someone else."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aioboto3
import pytest
from botocore.config import Config

from services.identity.adapters.dynamodb_users import ORGANIZATION_INDEX, DynamoDbUserRepository
from services.kernel.errors import Unavailable
from tests.integration.identity.aws import REGION
from tests.support.servers import free_port

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient


async def test_ensure_table_creates_the_table_and_index_and_is_idempotent(
    dynamodb: DynamoDBClient, table_name: str
) -> None:
    repository = DynamoDbUserRepository(dynamodb, table_name)
    await repository.ensure_table()
    await repository.ensure_table()
    await DynamoDbUserRepository(dynamodb, table_name).ensure_table()
    table = (await dynamodb.describe_table(TableName=table_name))["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk"]
    assert [i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])] == [ORGANIZATION_INDEX]


async def test_an_unreachable_dynamodb_is_unavailable_not_a_crash() -> None:
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1)
    endpoint = f"http://127.0.0.1:{free_port()}"
    async with aioboto3.Session().client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, config=config
    ) as client:
        repository = DynamoDbUserRepository(client, "nowhere")
        with pytest.raises(Unavailable) as caught:
            await repository.get("user-1")
    assert caught.value.details == {"dependency": "DynamoDB"}
