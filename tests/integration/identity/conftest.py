"""AWS fixtures of the identity tests: DynamoDB tables and Cognito pools on the session's moto server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from services.identity.adapters.cognito_provider import CognitoIdentityProvider
from tests.integration.identity.aws import (
    CognitoPool,
    cognito_client,
    create_cognito_pool,
    dynamodb_client,
    new_table_name,
)

if TYPE_CHECKING:
    from types_aiobotocore_cognito_idp.client import CognitoIdentityProviderClient
    from types_aiobotocore_dynamodb.client import DynamoDBClient


@pytest.fixture
async def dynamodb(moto_endpoint: str) -> AsyncIterator[DynamoDBClient]:
    async with dynamodb_client(moto_endpoint) as client:
        yield client


@pytest.fixture
def table_name() -> str:
    return new_table_name()


@pytest.fixture
async def cognito(moto_endpoint: str) -> AsyncIterator[CognitoIdentityProviderClient]:
    async with cognito_client(moto_endpoint) as client:
        yield client


@pytest.fixture
async def cognito_pool(moto_endpoint: str, cognito: CognitoIdentityProviderClient) -> CognitoPool:
    return await create_cognito_pool(cognito, moto_endpoint)


@pytest.fixture
def cognito_provider(cognito: CognitoIdentityProviderClient, cognito_pool: CognitoPool) -> CognitoIdentityProvider:
    return CognitoIdentityProvider(
        cognito, user_pool_id=cognito_pool.pool_id, client_id=cognito_pool.client_id, jwks_url=cognito_pool.jwks_url
    )
