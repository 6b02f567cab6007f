"""The production UserRepository on DynamoDB (aioboto3).

One table: a user item per user (pk `user#<id>`) and a guard item per email (pk `email#<email>`) written in
the same transaction, so two sign-ups racing for one email cannot both win. The `by-organization` index
(organizationId, createdKey) lists an organization's users oldest first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer  # type: ignore[import-untyped]
from botocore.exceptions import ClientError

from services.identity.adapters.aws import error_code, outages_as_unavailable
from services.identity.adapters.records import user_from_record, user_to_record
from services.identity.domain.errors import UserAlreadyExists, UserNotFound
from services.identity.domain.model import User
from services.kernel.caller import Role
from services.kernel.pagination import Page, PageRequest

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

ORGANIZATION_INDEX = "by-organization"
_KEY_ATTRIBUTES = ("pk", "createdKey")
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DynamoDbUserRepository:
    def __init__(self, client: DynamoDBClient, table: str):
        self._client = client
        self._table = table

    async def ensure_table(self) -> None:
        """Create the table and its index unless they exist (infrastructure code may have made them)."""
        with outages_as_unavailable("DynamoDB"):
            try:
                await self._client.describe_table(TableName=self._table)
                return
            except ClientError as error:
                if error_code(error) != "ResourceNotFoundException":
                    raise
            await self._create_table()

    async def _create_table(self) -> None:
        try:
            await self._client.create_table(
                TableName=self._table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "organizationId", "AttributeType": "S"},
                    {"AttributeName": "createdKey", "AttributeType": "S"},
                ],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": ORGANIZATION_INDEX,
                        "KeySchema": [
                            {"AttributeName": "organizationId", "KeyType": "HASH"},
                            {"AttributeName": "createdKey", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
            )
        except ClientError as error:
            if error_code(error) != "ResourceInUseException":  # another replica created it first
                raise
        await self._client.get_waiter("table_exists").wait(TableName=self._table)

    async def add(self, user: User) -> None:
        guard = {"pk": {"S": _email_key(user.email)}, "userId": {"S": user.user_id}}
        with outages_as_unavailable("DynamoDB"):
            try:
                await self._client.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": self._table, "Item": _item(user), "ConditionExpression": _ABSENT}},
                        {"Put": {"TableName": self._table, "Item": guard, "ConditionExpression": _ABSENT}},
                    ]
                )
            except ClientError as error:
                if _lost_race(error):
                    raise UserAlreadyExists(user.email) from None
                raise

    async def save(self, user: User) -> None:
        with outages_as_unavailable("DynamoDB"):
            try:
                await self._client.put_item(
                    TableName=self._table, Item=_item(user), ConditionExpression="attribute_exists(pk)"
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    raise UserNotFound(user.user_id) from None
                raise

    async def get(self, user_id: str) -> User | None:
        item = await self._get_item(_user_key(user_id))
        return _user(item) if item else None

    async def get_by_email(self, email: str) -> User | None:
        guard = await self._get_item(_email_key(email))
        return await self.get(guard["userId"]["S"]) if guard else None

    async def list(self, organization_id: str, role: Role | None, page: PageRequest) -> Page[User]:
        # Offset pages need the total count anyway, so read the organization's users once and slice: an
        # organization has tens to thousands of users, a few pages of one partition.
        users = [_user(item) async for item in self._query_organization(organization_id, role)]
        return Page(users[page.offset : page.offset + page.page_size], page, len(users))

    async def _query_organization(self, organization_id: str, role: Role | None) -> AsyncIterator[dict[str, Any]]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": ORGANIZATION_INDEX,
            "KeyConditionExpression": "organizationId = :org",
            "ExpressionAttributeValues": {":org": {"S": organization_id}},
        }
        if role is not None:
            query["FilterExpression"] = "#role = :role"
            query["ExpressionAttributeNames"] = {"#role": "role"}  # ROLE is a reserved word
            query["ExpressionAttributeValues"][":role"] = {"S": role.label}
        with outages_as_unavailable("DynamoDB"):
            paginator = self._client.get_paginator("query")
            async for response in paginator.paginate(**query):
                for item in response.get("Items", []):
                    yield item

    async def _get_item(self, key: str) -> dict[str, Any] | None:
        with outages_as_unavailable("DynamoDB"):
            response = await self._client.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item


_ABSENT = "attribute_not_exists(pk)"


def _lost_race(error: ClientError) -> bool:
    """A cancelled transaction whose condition failed: the email (or the id) is already taken.

    TransactionConflict means another transaction was writing the same guard item at that instant, which
    is a concurrent creation with the same email.
    """
    if error_code(error) != "TransactionCanceledException":
        return False
    reasons = {str(r.get("Code")) for r in error.response.get("CancellationReasons", [])}
    return bool(reasons & {"ConditionalCheckFailed", "TransactionConflict"})


def _user_key(user_id: str) -> str:
    return f"user#{user_id}"


def _email_key(email: str) -> str:
    return f"email#{email}"


def _item(user: User) -> dict[str, Any]:
    record = user_to_record(user)
    item = {name: _serializer.serialize(value) for name, value in record.items()}
    item["pk"] = {"S": _user_key(user.user_id)}
    item["createdKey"] = {"S": f"{record['createdAt']}#{user.user_id}"}
    return item


def _user(item: dict[str, Any]) -> User:
    return user_from_record(
        {name: _deserializer.deserialize(value) for name, value in item.items() if name not in _KEY_ATTRIBUTES}
    )
