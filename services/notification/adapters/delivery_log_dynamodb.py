"""The DeliveryLog on DynamoDB (aioboto3), for AWS deployments: one table shared by every replica.

Items (pk only):
    delivery#<deliveryId>                               the row: one attribute per column of delivery_rows
                                                        (timestamps as fixed-width UTC ISO text, absent
                                                        when None), plus `created_key` for the index
    key#["<alert>","<user>","<channel>","<target>"]     guard: the delivery id owning that key

Inserting is one transaction putting both unless either exists, so the row and its key are unique together
as the SQL logs' primary key and UNIQUE constraint make them. Claims and outcomes are single conditional
UpdateItems on the claim token (ReturnValues ALL_NEW), so replicas racing for one row cannot both win.
Pages read the `by-organization` index (organization_id, created_key), which follows writes within about
a second; everything else reads the table, strongly consistent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import ClientError

from services.kernel.pagination import Page, PageRequest
from services.notification.adapters.delivery_rows import (
    COLUMN_NAMES,
    delivery_from_row,
    delivery_values,
    from_iso,
    iso_utc,
)
from services.notification.domain.model import Delivery, DeliveryFilter, DeliveryOutcome, DeliveryStatus
from services.runtime.dynamodb import (
    CONDITION_FAILED,
    Index,
    cancellation_codes,
    define_table,
    ensure_table,
    error_code,
    query_items,
    transact_retrying_conflicts,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

BY_ORGANIZATION = "by-organization"
_ABSENT = "attribute_not_exists(pk)"
_CLAIMED = "#claim_token = :token AND #status = :pending"
# Attribute names appear as #name in every expression: several columns are DynamoDB reserved words.
_NAME = re.compile(r"#(\w+)")


def table_definition(table: str) -> dict[str, Any]:
    return define_table(table, indexes=[Index(BY_ORGANIZATION, "organization_id", "created_key")])


class DynamoDbDeliveryLog:
    def __init__(self, client: DynamoDBClient, table: str):
        self._client = client
        self._table = table

    async def ensure_table(self) -> None:
        await ensure_table(self._client, table_definition(self._table))

    async def close(self) -> None:
        """The client belongs to whoever opened it (the bootstrap's resources)."""

    async def insert_if_absent(self, delivery: Delivery) -> tuple[Delivery, bool]:
        guard = _guard_key(delivery) | {"delivery_id": _value(delivery.delivery_id)}
        writes: Any = [
            {"Put": {"TableName": self._table, "Item": _item(delivery), "ConditionExpression": _ABSENT}},
            {"Put": {"TableName": self._table, "Item": guard, "ConditionExpression": _ABSENT}},
        ]
        try:
            await transact_retrying_conflicts(self._client, writes)
            return delivery, True
        except ClientError as error:
            if "ConditionalCheckFailed" not in cancellation_codes(error):
                raise
        # The row with the same id, or the one holding the same (alert, user, channel, target).
        stored = await self.get(delivery.delivery_id)
        if stored is None:
            owner = await self._get_item(_guard_key(delivery))
            stored = await self.get(str(owner["delivery_id"]["S"])) if owner else None
        if stored is None:
            raise RuntimeError(f"delivery {delivery.delivery_id} was refused but neither its id nor its key is stored")
        return stored, False

    async def get(self, delivery_id: str) -> Delivery | None:
        item = await self._get_item(_row_key(delivery_id))
        return _delivery(item) if item else None

    async def take(
        self, delivery_id: str, *, expected_token: str, token: str, owner: str, lease_until: datetime
    ) -> Delivery | None:
        return await self._update(
            delivery_id,
            "SET #status = :pending, #owner = :owner, #lease_until = :lease, #claim_token = :token,"
            " #attempts = #attempts + :one REMOVE #handed_over_at",
            "#claim_token = :expected AND #status IN (:pending, :failed)",
            {
                ":pending": _value(DeliveryStatus.PENDING.value),
                ":failed": _value(DeliveryStatus.FAILED.value),
                ":owner": _value(owner),
                ":lease": _value(_instant(lease_until)),
                ":token": _value(token),
                ":expected": _value(expected_token),
                ":one": {"N": "1"},
            },
        )

    async def hand_over(self, delivery_id: str, *, token: str, at: datetime, content: str) -> bool:
        updated = await self._update(
            delivery_id,
            "SET #handed_over_at = :at, #content = :content",
            _CLAIMED,
            {
                ":at": _value(_instant(at)),
                ":content": _value(content),
                ":token": _value(token),
                ":pending": _value(DeliveryStatus.PENDING.value),
            },
        )
        return updated is not None

    async def finish(self, delivery_id: str, *, token: str, outcome: DeliveryOutcome) -> Delivery | None:
        sets = ["#status = :status", "#retryable = :retryable", "#attempts = #attempts + :extra", "#content = :content"]
        removes = ["#lease_until"]
        values: dict[str, Any] = {
            ":status": _value(outcome.status.value),
            ":retryable": _value(outcome.retryable),
            ":extra": _value(outcome.extra_attempts),
            ":content": _value(outcome.content),
            ":token": _value(token),
            ":pending": _value(DeliveryStatus.PENDING.value),
        }
        for attribute, value in (("error", outcome.error), ("sent_at", iso_utc(outcome.sent_at))):
            if value is None:
                removes.append(f"#{attribute}")
            else:
                sets.append(f"#{attribute} = :{attribute}")
                values[f":{attribute}"] = _value(value)
        expression = "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes)
        return await self._update(delivery_id, expression, _CLAIMED, values)

    async def page(self, where: DeliveryFilter, page: PageRequest) -> Page[Delivery]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_ORGANIZATION,
            "KeyConditionExpression": "organization_id = :org",
            "ExpressionAttributeValues": {":org": _value(where.organization_id)},
            "ScanIndexForward": False,
        }
        clauses, names = [], {}
        for attribute, value in (
            ("alert_id", where.alert_id),
            ("channel", where.channel.value if where.channel else None),
            ("status", where.status.value if where.status else None),
        ):
            if value is not None:
                names[f"#{attribute}"] = attribute
                request["ExpressionAttributeValues"][f":{attribute}"] = _value(value)
                clauses.append(f"#{attribute} = :{attribute}")
        if clauses:
            request["FilterExpression"] = " AND ".join(clauses)
            request["ExpressionAttributeNames"] = names
        # The total count needs every match anyway: an organization's deliveries of the retention window.
        found = [_delivery(item) async for item in query_items(self._client, request)]
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def _update(
        self,
        delivery_id: str,
        expression: str,
        condition: str,
        values: dict[str, Any],
    ) -> Delivery | None:
        """The row after a conditional UpdateItem; None when the condition (or the row) is missing."""
        try:
            reply = await self._client.update_item(
                TableName=self._table,
                Key=_row_key(delivery_id),
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(pk) AND {condition}",
                ExpressionAttributeNames={f"#{n}": n for n in _NAME.findall(expression + condition)},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error_code(error) == CONDITION_FAILED:
                return None
            raise
        return _delivery(reply["Attributes"])

    async def _get_item(self, key: Mapping[str, Any]) -> Mapping[str, Any] | None:
        reply = await self._client.get_item(TableName=self._table, Key=dict(key), ConsistentRead=True)
        return reply.get("Item")


def _row_key(delivery_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"delivery#{delivery_id}"}}


def _guard_key(d: Delivery) -> dict[str, Any]:
    # JSON keeps the four parts unambiguous whatever characters they hold (the target is a URL or empty).
    key = orjson.dumps([d.alert_id, d.user_id, d.channel.value, d.target]).decode()
    return {"pk": {"S": f"key#{key}"}}


def _instant(value: datetime) -> str:
    return iso_utc(value) or ""


def _value(value: str | int | bool) -> Any:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    return {"S": value}


def _item(delivery: Delivery) -> dict[str, Any]:
    item = _row_key(delivery.delivery_id) | {
        "created_key": {"S": f"{iso_utc(delivery.created_at)}#{delivery.delivery_id}"}
    }
    for name, value in zip(COLUMN_NAMES, delivery_values(delivery, when=iso_utc), strict=True):
        if value is not None:
            item[name] = _value(value)
    return item


def _delivery(item: Mapping[str, Any]) -> Delivery:
    row: dict[str, Any] = {}
    for name in COLUMN_NAMES:
        attribute = item.get(name)
        if attribute is None:
            row[name] = None
        elif "N" in attribute:
            row[name] = int(Decimal(attribute["N"]))
        else:
            row[name] = attribute.get("S", attribute.get("BOOL"))
    return delivery_from_row(row, read_time=from_iso)
