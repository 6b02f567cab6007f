"""Helpers of the identity tests for the moto server: DynamoDB clients and Cognito pools set up as production."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aioboto3

from services.identity.adapters.cognito_provider import cognito_issuer, cognito_jwks_url
from services.runtime.auth import TokenVerifier, UrlJwks

if TYPE_CHECKING:
    from types_aiobotocore_cognito_idp.client import CognitoIdentityProviderClient
    from types_aiobotocore_cognito_idp.type_defs import SchemaAttributeTypeTypeDef
    from types_aiobotocore_dynamodb.client import DynamoDBClient

REGION = "us-east-1"


@dataclass(frozen=True)
class CognitoPool:
    endpoint: str
    pool_id: str
    client_id: str

    @property
    def issuer(self) -> str:
        return cognito_issuer(self.pool_id)

    @property
    def jwks_url(self) -> str:
        return cognito_jwks_url(self.pool_id, self.endpoint)

    def verifier(self) -> TokenVerifier:
        """How every service verifies this pool's tokens: its JWKS URL, its issuer, the client as audience."""
        return TokenVerifier(UrlJwks(self.jwks_url), issuer=self.issuer, audience=self.client_id, token_use="id")


def dynamodb_client(endpoint: str) -> AbstractAsyncContextManager[DynamoDBClient]:
    return aioboto3.Session().client("dynamodb", endpoint_url=endpoint, region_name=REGION)


def cognito_client(endpoint: str) -> AbstractAsyncContextManager[CognitoIdentityProviderClient]:
    return aioboto3.Session().client("cognito-idp", endpoint_url=endpoint, region_name=REGION)


def new_table_name() -> str:
    return f"identity-{uuid.uuid4().hex[:12]}"


async def create_cognito_pool(
    client: CognitoIdentityProviderClient, endpoint: str, *, custom_attributes: bool = True
) -> CognitoPool:
    """A pool as production needs it: email sign-in, the two custom attributes, an admin-auth app client."""
    custom: list[SchemaAttributeTypeTypeDef] = [
        {"Name": "organizationId", "AttributeDataType": "String", "Mutable": True},
        {"Name": "role", "AttributeDataType": "String", "Mutable": True},
    ]
    standard: list[SchemaAttributeTypeTypeDef] = [{"Name": "email", "AttributeDataType": "String", "Required": True}]
    pool = await client.create_user_pool(
        PoolName=f"iotmon-{uuid.uuid4().hex[:8]}",
        UsernameAttributes=["email"],
        Schema=standard + (custom if custom_attributes else []),
    )
    pool_id = pool["UserPool"]["Id"]
    app_client = await client.create_user_pool_client(
        UserPoolId=pool_id, ClientName="iotmon", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )
    return CognitoPool(endpoint, pool_id, app_client["UserPoolClient"]["ClientId"])
