"""The DynamoDB layout of the alerting store: two tables, `<prefix>rules` and `<prefix>alerts`.

Rules (pk = organization id, sk = rule id): an organization's rules are one partition, read with one strongly
consistent Query; the evaluator's `enabled_rules` is a strongly consistent Scan of this small table, so a
rule saved just before alerting.rule_changed is never missed by the reload that event causes.

Alerts (pk only) hold two kinds of item:

    alert#<alertId>                 the alert: the row of rows.alert_row as JSON (`document`, without
                                    notifications_sent), `notifications_sent` as a list of its own (appended
                                    atomically, never rewritten by save_alert), and the attributes the
                                    indexes and filters use
    guard#["<ruleId>","<deviceId>"] the (rule, device) pair: `open_alert` while one of its alerts is not
                                    resolved, `last_triggered_ms` of its latest alert

Raising an alert is one transaction: the guard's condition (no open alert, latest one before the cooldown)
and the alert's put. Resolving it clears the guard in the same transaction as the status change.

Global secondary indexes (eventually consistent, for lists, counts and the cleanup):
    by-organization   organization_id, triggered_key     every alert, listed newest first
    open-by-rule      open_rule, triggered_key           sparse: open alerts only
    open-by-device    open_device                        sparse, keys only: count_open
    resolved          resolved_shard, resolved_at_ms     sparse: resolved alerts, oldest first (the cleanup)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson

from services.alerting.adapters.rows import (
    ALERT_COLUMNS,
    RULE_COLUMNS,
    alert_from_row,
    alert_row,
    rule_from_row,
    rule_row,
)
from services.alerting.domain.alerts import Alert, AlertStatus
from services.alerting.domain.listing import AlertFilter
from services.alerting.domain.rules import Rule

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

Item: TypeAlias = "dict[str, AttributeValueTypeDef]"

BY_ORGANIZATION = "by-organization"
OPEN_BY_RULE = "open-by-rule"
OPEN_BY_DEVICE = "open-by-device"
RESOLVED = "resolved"
# One index partition for every resolved alert: they arrive at the pace people resolve alerts.
RESOLVED_SHARD = "resolved"
ALERT_PREFIX = "alert#"
_ALERT_NAMES = ALERT_COLUMNS.split(", ")
_RULE_NAMES = RULE_COLUMNS.split(", ")
# Milliseconds since 1970 fit in 16 digits until the year 318857: zero-padded, they sort as text.
_KEY_DIGITS = 16


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def rules_table(table: str) -> dict[str, Any]:
    return {
        "TableName": table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk")],
        "BillingMode": "PAY_PER_REQUEST",
    }


def alerts_table(table: str) -> dict[str, Any]:
    def index(name: str, hash_key: str, range_key: str | None, projection: str = "ALL") -> dict[str, Any]:
        keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        if range_key:
            keys.append({"AttributeName": range_key, "KeyType": "RANGE"})
        return {"IndexName": name, "KeySchema": keys, "Projection": {"ProjectionType": projection}}

    strings = ("pk", "organization_id", "triggered_key", "open_rule", "open_device", "resolved_shard")
    return {
        "TableName": table,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in strings]
        + [{"AttributeName": "resolved_at_ms", "AttributeType": "N"}],
        "GlobalSecondaryIndexes": [
            index(BY_ORGANIZATION, "organization_id", "triggered_key"),
            index(OPEN_BY_RULE, "open_rule", "triggered_key"),
            index(OPEN_BY_DEVICE, "open_device", None, "KEYS_ONLY"),
            index(RESOLVED, "resolved_shard", "resolved_at_ms", "KEYS_ONLY"),
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


# Rules.


def rule_key(organization_id: str, rule_id: str) -> Item:
    return {"pk": s(organization_id), "sk": s(rule_id)}


def rule_item(rule: Rule) -> Item:
    document = dict(zip(_RULE_NAMES, rule_row(rule), strict=True))
    return rule_key(rule.organization_id, rule.rule_id) | {
        "document": s(orjson.dumps(document).decode()),
        "live": {"BOOL": rule.enabled and not rule.deleted},
    }


def rule_of(item: Mapping[str, Any]) -> Rule:
    document = orjson.loads(item["document"]["S"])
    return rule_from_row(tuple(document[name] for name in _RULE_NAMES))


# Alerts.


def alert_key(alert_id: str) -> Item:
    return {"pk": s(ALERT_PREFIX + alert_id)}


def guard_key(rule_id: str, device_id: str) -> Item:
    # JSON keeps the pair unambiguous whatever characters the ids hold.
    return {"pk": s("guard#" + orjson.dumps([rule_id, device_id]).decode())}


def time_key(ms: int) -> str:
    return f"{ms:0{_KEY_DIGITS}d}"


def triggered_key(alert: Alert) -> str:
    return f"{time_key(alert.triggered_at_ms)}#{alert.alert_id}"


def alert_document(alert: Alert) -> str:
    """The alert's row as JSON, but notifications_sent (an attribute of its own)."""
    document = dict(zip(_ALERT_NAMES, alert_row(alert), strict=True))
    del document["notifications_sent"]
    return orjson.dumps(document).decode()


def alert_item(alert: Alert) -> Item:
    item = alert_key(alert.alert_id) | {
        "organization_id": s(alert.organization_id),
        "triggered_key": s(triggered_key(alert)),
        "notifications_sent": {"L": [s(channel) for channel in alert.notifications_sent]},
    }
    for name, value in indexed_attributes(alert).items():
        if value is not None:
            item[name] = value
    return item


def indexed_attributes(alert: Alert) -> dict[str, AttributeValueTypeDef | None]:
    """What a status change rewrites: the document, the filtered attributes and the sparse index keys
    (None: the attribute must be absent)."""
    resolved = alert.status is AlertStatus.RESOLVED and alert.resolved_at_ms is not None
    return {
        "document": s(alert_document(alert)),
        "status": s(alert.status.value),
        "severity": s(alert.severity.value),
        "device_id": s(alert.device_id),
        "open_rule": s(alert.rule_id) if alert.is_open else None,
        "open_device": s(alert.device_id) if alert.is_open else None,
        "resolved_shard": s(RESOLVED_SHARD) if resolved else None,
        "resolved_at_ms": n(alert.resolved_at_ms) if resolved and alert.resolved_at_ms is not None else None,
    }


def alert_of(item: Mapping[str, Any]) -> Alert:
    document = orjson.loads(item["document"]["S"])
    sent = [value["S"] for value in item.get("notifications_sent", {}).get("L", [])]
    document["notifications_sent"] = orjson.dumps(sent).decode()
    return alert_from_row(tuple(document[name] for name in _ALERT_NAMES))


def save_update(alert: Alert, expected: AlertStatus) -> dict[str, Any]:
    """UpdateItem arguments (without the table) writing what save_alert changes, if the stored status is
    still `expected`."""
    names: dict[str, str] = {}
    values: Item = {":expected": s(expected.value)}
    sets, removes = [], []
    for position, (attribute, value) in enumerate(indexed_attributes(alert).items()):
        names[f"#a{position}"] = attribute
        if value is None:
            removes.append(f"#a{position}")
        else:
            sets.append(f"#a{position} = :v{position}")
            values[f":v{position}"] = value
    names["#status"] = "status"
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return {
        "Key": alert_key(alert.alert_id),
        "UpdateExpression": expression,
        "ConditionExpression": "attribute_exists(pk) AND #status = :expected",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def list_filter(organization_id: str, query: AlertFilter) -> dict[str, Any]:
    """Query arguments (without the table) for the organization's matching alerts, newest first."""
    lowest = time_key(query.start_ms) if query.start_ms is not None else "0"
    # Every key of the last millisecond sorts before "<ms>$" ("$" follows "#").
    highest = time_key(query.end_ms) + "$" if query.end_ms is not None else "~"
    values: Item = {":org": s(organization_id), ":low": s(lowest), ":high": s(highest)}
    names: dict[str, str] = {}
    clauses = []
    for attribute, value in (
        ("status", query.status.value if query.status else None),
        ("severity", query.severity.value if query.severity else None),
        ("device_id", query.device_id),
    ):
        if value is not None:
            names[f"#{attribute}"] = attribute
            values[f":{attribute}"] = s(value)
            clauses.append(f"#{attribute} = :{attribute}")
    request: dict[str, Any] = {
        "IndexName": BY_ORGANIZATION,
        "KeyConditionExpression": "organization_id = :org AND triggered_key BETWEEN :low AND :high",
        "ExpressionAttributeValues": values,
        "ScanIndexForward": False,
    }
    if clauses:
        request["FilterExpression"] = " AND ".join(clauses)
        request["ExpressionAttributeNames"] = names
    return request
