"""The UsageStore (§6.4) on DynamoDB (aioboto3), for AWS deployments: one table (pk, sk).

    pk org#<org>    sk month#<month>            `messages`, `data_bytes`, `api_calls`, and `month` /
                                                `organization_id` for the by-month index
    pk org#<org>    sk device#<month>#<device>  a device that reported in the month (counted, not summed)
    pk org#<org>    sk report#<month>           the month's report
    pk event#<id>   sk event                    a counted event id (as in store_dynamodb: the `seen` index)

An event is one transaction: its id's marker, put on condition it is absent, and the ADDs to its months. The
devices of a readings event are put first, idempotently, so a crash between the two leaves nothing the
redelivery does not put again. The by-month index (keys only) is written when a month's item first appears,
not on every ADD; listing a month's organizations reads it, following writes within about a second (the
monthly report runs after the month has ended).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.analytics.adapters.store_dynamodb import SEEN_INDEX, forget_seen_before, seen_marker
from services.analytics.domain.usage import MonthReadings, MonthUsage, UsageReport
from services.runtime.dynamodb import (
    Index,
    count_items,
    define_table,
    ensure_table,
    put_items,
    query_items,
    transact_unless_refused,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

BY_MONTH = "by-month"


def table_definition(table: str) -> dict[str, Any]:
    by_month = Index(BY_MONTH, "month", "organization_id", "KEYS_ONLY")
    return define_table(table, range_key="sk", indexes=[SEEN_INDEX, by_month], numbers=frozenset({"at_ms"}))


class DynamoDbUsageStore:
    def __init__(self, client: DynamoDBClient, table: str):
        self._client = client
        self._table = table

    async def ensure_table(self) -> None:
        await ensure_table(self._client, table_definition(self._table))

    async def close(self) -> None:
        """The client belongs to whoever opened it (the bootstrap's resources)."""

    async def add_readings(self, event_id: str, organization_id: str, months: list[MonthReadings]) -> bool:
        await put_items(
            self._client,
            self._table,
            [
                _key(organization_id, f"device#{part.month}#{device_id}")
                for part in months
                for device_id in sorted(part.devices)
            ],
        )
        return await self._count_once(
            event_id,
            [
                self._add(organization_id, part.month, {"messages": part.messages, "data_bytes": part.data_bytes})
                for part in months
            ],
        )

    async def add_api_calls(self, event_id: str, organization_id: str, month: str, calls: int) -> bool:
        return await self._count_once(event_id, [self._add(organization_id, month, {"api_calls": calls})])

    async def month_usage(self, organization_id: str, month: str) -> MonthUsage:
        item = await self._get_item(_key(organization_id, f"month#{month}")) or {}
        devices = await count_items(
            self._client,
            {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {":pk": _s(f"org#{organization_id}"), ":prefix": _s(f"device#{month}#")},
                "ConsistentRead": True,
            },
        )

        def number(name: str) -> int:
            return int(item[name]["N"]) if name in item else 0

        return MonthUsage(
            organization_id, month, number("data_bytes"), number("messages"), devices, number("api_calls")
        )

    async def organizations(self, month: str) -> list[str]:
        request = {
            "TableName": self._table,
            "IndexName": BY_MONTH,
            "KeyConditionExpression": "#month = :month",
            "ExpressionAttributeNames": {"#month": "month"},
            "ExpressionAttributeValues": {":month": _s(month)},
        }
        return sorted({str(item["organization_id"]["S"]) async for item in query_items(self._client, request)})

    async def save_report(self, report: UsageReport) -> None:
        u = report.usage
        await self._client.put_item(
            TableName=self._table,
            Item=_key(u.organization_id, f"report#{u.month}")
            | {
                "data_bytes": _n(u.data_bytes),
                "messages": _n(u.messages),
                "devices": _n(u.devices),
                "api_calls": _n(u.api_calls),
                "estimated_cost": {"N": repr(report.estimated_cost)},
                "currency": _s(report.currency),
                "created_at_ms": _n(report.created_at_ms),
            },
        )

    async def get_report(self, organization_id: str, month: str) -> UsageReport | None:
        item = await self._get_item(_key(organization_id, f"report#{month}"))
        if item is None:
            return None
        usage = MonthUsage(
            organization_id,
            month,
            int(item["data_bytes"]["N"]),
            int(item["messages"]["N"]),
            int(item["devices"]["N"]),
            int(item["api_calls"]["N"]),
        )
        return UsageReport(
            usage, float(item["estimated_cost"]["N"]), str(item["currency"]["S"]), int(item["created_at_ms"]["N"])
        )

    async def forget_events_before(self, at_ms: int) -> int:
        return await forget_seen_before(self._client, self._table, at_ms)

    async def _count_once(self, event_id: str, adds: list[Any]) -> bool:
        marker = seen_marker(event_id)
        marker["Put"]["TableName"] = self._table
        return await transact_unless_refused(self._client, [marker, *adds])

    def _add(self, organization_id: str, month: str, amounts: dict[str, int]) -> Any:
        adds = ", ".join(f"{name} :{name}" for name in amounts)
        return {
            "Update": {
                "TableName": self._table,
                "Key": _key(organization_id, f"month#{month}"),
                "UpdateExpression": f"SET #month = :month, organization_id = :org ADD {adds}",
                "ExpressionAttributeNames": {"#month": "month"},
                "ExpressionAttributeValues": {":month": _s(month), ":org": _s(organization_id)}
                | {f":{name}": _n(n) for name, n in amounts.items()},
            }
        }

    async def _get_item(self, key: dict[str, Any]) -> dict[str, Any] | None:
        reply = await self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = reply.get("Item")
        return item


def _s(value: str) -> Any:
    return {"S": value}


def _n(value: int) -> Any:
    return {"N": str(value)}


def _key(organization_id: str, sk: str) -> dict[str, Any]:
    return {"pk": _s(f"org#{organization_id}"), "sk": _s(sk)}
