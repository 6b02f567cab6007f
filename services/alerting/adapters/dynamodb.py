"""The AlertingStore on DynamoDB (aioboto3), for AWS deployments; the layout is in dynamodb_items.

De-duplication and cooldown hold across replicas because raising an alert is one TransactWriteItems whose
condition is on the (rule, device) guard item. Reads by key and the rule lists are strongly consistent; the
alert lists, related alerts, open counts and the cleanup read global secondary indexes, which follow writes
within about a second.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.alerting.adapters import dynamodb_items as items
from services.alerting.domain.alerts import OPEN_STATUSES, Alert, AlertStatus
from services.alerting.domain.listing import AlertFilter, RuleFilter
from services.alerting.domain.rules import Rule
from services.kernel.pagination import Page, PageRequest
from services.runtime.dynamodb import (
    CONDITION_FAILED,
    REFUSED,
    cancellation_codes,
    count_items,
    ensure_table,
    error_code,
    query_items,
    transact_retrying_conflicts,
    transact_unless_refused,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient


class DynamoDbAlertingStore:
    def __init__(self, client: DynamoDBClient, table_prefix: str):
        self._client = client
        self._rules = f"{table_prefix}rules"
        self._alerts = f"{table_prefix}alerts"

    async def ensure_tables(self) -> None:
        await ensure_table(self._client, items.rules_table(self._rules))
        await ensure_table(self._client, items.alerts_table(self._alerts))

    async def close(self) -> None:
        """The client belongs to whoever opened it (the bootstrap's resources)."""

    # Rules.

    async def add_rule(self, rule: Rule) -> None:
        await self._client.put_item(TableName=self._rules, Item=items.rule_item(rule))

    async def get_rule(self, organization_id: str, rule_id: str) -> Rule | None:
        reply = await self._client.get_item(
            TableName=self._rules, Key=items.rule_key(organization_id, rule_id), ConsistentRead=True
        )
        item = reply.get("Item")
        return items.rule_of(item) if item else None

    async def save_rule(self, rule: Rule) -> None:
        await self._client.put_item(TableName=self._rules, Item=items.rule_item(rule))

    async def list_rules(self, organization_id: str, query: RuleFilter, page: PageRequest) -> Page[Rule]:
        # An organization's rules are one small partition: read it whole, then filter, sort and slice.
        request = {
            "TableName": self._rules,
            "KeyConditionExpression": "pk = :org",
            "ExpressionAttributeValues": {":org": items.s(organization_id)},
            "ConsistentRead": True,
        }
        rules = [items.rule_of(i) async for i in query_items(self._client, request)]
        found = [r for r in rules if not r.deleted and query.matches(r)]
        found.sort(key=lambda r: (r.created_at_ms, r.rule_id), reverse=True)
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def enabled_rules(self) -> list[Rule]:
        request = {
            "scan": True,
            "TableName": self._rules,
            "FilterExpression": "live = :yes",
            "ExpressionAttributeValues": {":yes": {"BOOL": True}},
            "ConsistentRead": True,
        }
        return [items.rule_of(i) async for i in query_items(self._client, request)]

    # Alerts.

    async def add_alert_unless_open_or_cooling(self, alert: Alert, cooldown_since_ms: int) -> bool:
        marks = "SET last_triggered_ms = :at" + (", open_alert = :me" if alert.is_open else "")
        guard: Any = {
            "Update": {
                "TableName": self._alerts,
                "Key": items.guard_key(alert.rule_id, alert.device_id),
                "UpdateExpression": marks,
                "ConditionExpression": "attribute_not_exists(open_alert) "
                "AND (attribute_not_exists(last_triggered_ms) OR last_triggered_ms < :since)",
                "ExpressionAttributeValues": {
                    ":at": items.n(alert.triggered_at_ms),
                    ":since": items.n(cooldown_since_ms),
                }
                | ({":me": items.s(alert.alert_id)} if alert.is_open else {}),
            }
        }
        put: Any = {"Put": {"TableName": self._alerts, "Item": items.alert_item(alert), "ConditionExpression": _ABSENT}}
        return await transact_unless_refused(self._client, [guard, put])

    async def get_alert(self, organization_id: str, alert_id: str) -> Alert | None:
        reply = await self._client.get_item(TableName=self._alerts, Key=items.alert_key(alert_id), ConsistentRead=True)
        item = reply.get("Item")
        alert = items.alert_of(item) if item else None
        return alert if alert is not None and alert.organization_id == organization_id else None

    async def save_alert(self, alert: Alert, *, expected_status: AlertStatus) -> bool:
        update: Any = {"TableName": self._alerts, **items.save_update(alert, expected_status)}
        was_open = expected_status in OPEN_STATUSES
        if alert.is_open == was_open:
            return await self._update_alert(update)
        # Leaving the open statuses frees the (rule, device) pair for the next alert; entering them takes it.
        me: Any = {":me": items.s(alert.alert_id)}
        key = items.guard_key(alert.rule_id, alert.device_id)
        if was_open:
            guard: Any = {"UpdateExpression": "REMOVE open_alert", "ConditionExpression": "open_alert = :me"}
        else:
            guard = {
                "UpdateExpression": "SET open_alert = :me",
                "ConditionExpression": "attribute_not_exists(open_alert) OR open_alert = :me",
            }
        guard_update: Any = {"TableName": self._alerts, "Key": key, "ExpressionAttributeValues": me, **guard}
        try:
            await transact_retrying_conflicts(self._client, [{"Update": update}, {"Update": guard_update}])
        except ClientError as error:
            codes = cancellation_codes(error)
            if len(codes) < 2 or REFUSED not in codes:
                raise
            if codes[0] != REFUSED and was_open:
                # The guard does not hold this alert (another writer's mistake): there is nothing to free.
                return await self._update_alert(update)
            return False
        return True

    async def _update_alert(self, update: Any) -> bool:
        try:
            await self._client.update_item(**update)
        except ClientError as error:
            if error_code(error) == CONDITION_FAILED:
                return False
            raise
        return True

    async def list_alerts(self, organization_id: str, query: AlertFilter, page: PageRequest) -> Page[Alert]:
        # The total count needs every match anyway; the index returns them newest first.
        request = {"TableName": self._alerts, **items.list_filter(organization_id, query)}
        found = [items.alert_of(i) async for i in query_items(self._client, request)]
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def open_alerts_of_rule(
        self, organization_id: str, rule_id: str, *, excluding: str, limit: int
    ) -> list[Alert]:
        request = {
            "TableName": self._alerts,
            "IndexName": items.OPEN_BY_RULE,
            "KeyConditionExpression": "open_rule = :rule",
            "FilterExpression": "organization_id = :org AND pk <> :excluded",
            "ExpressionAttributeValues": {
                ":rule": items.s(rule_id),
                ":org": items.s(organization_id),
                ":excluded": items.alert_key(excluding)["pk"],
            },
            "ScanIndexForward": False,
        }
        found: list[Alert] = []
        if limit <= 0:
            return found
        async for item in query_items(self._client, request):
            found.append(items.alert_of(item))
            if len(found) >= limit:
                break
        return found

    async def count_open(self, device_id: str) -> int:
        request = {
            "TableName": self._alerts,
            "IndexName": items.OPEN_BY_DEVICE,
            "KeyConditionExpression": "open_device = :device",
            "ExpressionAttributeValues": {":device": items.s(device_id)},
        }
        return await count_items(self._client, request)

    async def add_notification_sent(self, alert_id: str, channel: str) -> None:
        # One conditional update: the check and the append cannot interleave with another delivery.
        try:
            await self._client.update_item(
                TableName=self._alerts,
                Key=items.alert_key(alert_id),
                UpdateExpression="SET notifications_sent = list_append(notifications_sent, :one)",
                ConditionExpression="attribute_exists(pk) AND NOT contains(notifications_sent, :channel)",
                ExpressionAttributeValues={":one": {"L": [items.s(channel)]}, ":channel": items.s(channel)},
            )
        except ClientError as error:
            if error_code(error) != CONDITION_FAILED:
                raise

    async def delete_resolved_before(self, cutoff_ms: int, limit: int) -> int:
        if limit <= 0:
            return 0
        reply = await self._client.query(
            TableName=self._alerts,
            IndexName=items.RESOLVED,
            KeyConditionExpression="resolved_shard = :shard AND resolved_at_ms < :cutoff",
            ExpressionAttributeValues={":shard": items.s(items.RESOLVED_SHARD), ":cutoff": items.n(cutoff_ms)},
            Limit=limit,
        )
        deleted = 0
        for item in reply.get("Items", []):
            # The index may still list an alert deleted a moment ago: only real deletions count.
            try:
                await self._client.delete_item(
                    TableName=self._alerts,
                    Key={"pk": item["pk"]},
                    ConditionExpression="#status = :resolved",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={":resolved": items.s(AlertStatus.RESOLVED.value)},
                )
                deleted += 1
            except ClientError as error:
                if error_code(error) != CONDITION_FAILED:
                    raise
        return deleted

    async def resolved_before(self, cutoff_ms: int, limit: int) -> list[Alert]:
        if limit <= 0:
            return []
        reply = await self._client.query(
            TableName=self._alerts,
            IndexName=items.RESOLVED,
            KeyConditionExpression="resolved_shard = :shard AND resolved_at_ms < :cutoff",
            ExpressionAttributeValues={":shard": items.s(items.RESOLVED_SHARD), ":cutoff": items.n(cutoff_ms)},
            Limit=limit,
        )
        found: list[Alert] = []
        for key in reply.get("Items", []):
            # The index holds keys only: the alert itself is read from the table (consistently).
            got = await self._client.get_item(TableName=self._alerts, Key={"pk": key["pk"]}, ConsistentRead=True)
            item = got.get("Item")
            if item is not None:
                alert = items.alert_of(item)
                if alert.status is AlertStatus.RESOLVED:
                    found.append(alert)
        found.sort(key=lambda a: (a.resolved_at_ms or 0, a.alert_id))
        return found

    async def delete_resolved(self, alert_ids: Collection[str]) -> int:
        deleted = 0
        for alert_id in set(alert_ids):
            try:
                await self._client.delete_item(
                    TableName=self._alerts,
                    Key=items.alert_key(alert_id),
                    ConditionExpression="#status = :resolved",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={":resolved": items.s(AlertStatus.RESOLVED.value)},
                )
                deleted += 1
            except ClientError as error:
                if error_code(error) != CONDITION_FAILED:
                    raise
        return deleted


_ABSENT = "attribute_not_exists(pk)"
