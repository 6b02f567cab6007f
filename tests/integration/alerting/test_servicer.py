"""The alerting service over a real gRPC port, built by its bootstrap (SQLite), with real tokens, beside a
real telemetry service for device types. Responses are rendered to JSON as the gateway does and compared
with the spec's examples (§3.2.2, §3.2.5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc, events_pb2
from iot.notification.v1 import events_pb2 as notification_events
from iot.notification.v1 import notification_pb2

from services.alerting.adapters.sqlite import SqliteAlertingStore
from services.alerting.domain.alerts import Alert
from tests.integration.alerting.support import AlertingStack, alerting_stack
from tests.integration.device.support import as_service, as_user
from tests.integration.runtime.test_grpc_server import details_of
from tests.support.tokens import TokenMinter
from tests.unit.alerting.builders import T0_MS, an_alert

SPEC_RULE: dict[str, Any] = {
    "name": "High Temperature Alert",
    "description": "Alert when temperature exceeds 40°C",
    "deviceType": "temperature-sensor-v2",
    "deviceIds": [],
    "condition": {"metric": "temperature", "operator": ">", "threshold": 40, "duration": 300},
    "severity": "warning",
    "actions": {"notifications": ["email", "push"], "webhooks": []},
    "cooldownPeriod": 900,
    "schedule": {"type": "always"},
}

# §3.2.2, with the fields the spec's example leaves out (organization, resolution) absent as well.
SPEC_ALERT_KEYS = {
    "alertId",
    "ruleId",
    "ruleName",
    "deviceId",
    "deviceName",
    "severity",
    "status",
    "condition",
    "actualValue",
    "threshold",
    "triggeredAt",
    "acknowledgedAt",
    "acknowledgedBy",
    "notificationsSent",
    "comments",
    "relatedAlerts",
}


def as_json(message: Message) -> dict[str, Any]:
    """What the gateway prints: fields without presence even when empty, optional ones only when set."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def create_request(**overrides: Any) -> alerting_pb2.CreateAlertRuleRequest:
    return json_format.ParseDict({**SPEC_RULE, **overrides}, alerting_pb2.CreateAlertRuleRequest())


@pytest.fixture
async def stack(tmp_path: Path, token_minter: TokenMinter) -> AsyncIterator[AlertingStack]:
    async with alerting_stack(token_minter, tmp_path / "data") as running:
        yield running


@pytest.fixture
async def stub(stack: AlertingStack) -> AsyncIterator[alerting_pb2_grpc.AlertingServiceAsyncStub]:
    async with grpc.aio.insecure_channel(stack.address) as channel:
        yield alerting_pb2_grpc.AlertingServiceStub(channel)


@pytest.fixture
async def store(stack: AlertingStack) -> AsyncIterator[SqliteAlertingStore]:
    """The service's own SQLite file, opened beside it: how the tests put alerts in place."""
    opened = SqliteAlertingStore(stack.store_path)
    yield opened
    await opened.close()


async def expect_error(call: Any, code: grpc.StatusCode) -> tuple[str, dict[str, str], list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code
    return details_of(caught.value)


async def stored(store: SqliteAlertingStore, *alerts: Alert) -> None:
    for alert in alerts:
        assert await store.add_alert_unless_open_or_cooling(alert, 0)


async def test_the_spec_rule_is_created_and_rendered_in_the_spec_shape(
    stub: alerting_pb2_grpc.AlertingServiceAsyncStub, stack: AlertingStack, token_minter: TokenMinter
) -> None:
    admin = as_user(token_minter, role="admin", user="user-admin")
    reply = await stub.CreateAlertRule(create_request(), metadata=admin)
    rule = as_json(reply.rule)
    assert rule["ruleId"].startswith("rule-")
    for key, value in SPEC_RULE.items():
        if key not in ("condition", "schedule"):
            assert rule[key] == value, key
    # The spec's condition, plus its kind (threshold, the spec's; rate and noData go beyond it).
    assert rule["condition"] == {**SPEC_RULE["condition"], "kind": "threshold"}
    assert rule["schedule"] == {"type": "always", "days": []}  # a repeated field always prints
    assert rule["conditions"] == [{**SPEC_RULE["condition"], "kind": "threshold"}]
    assert (rule["combine"], rule["enabled"], rule["organizationId"]) == ("all", True, "org-1")
    assert rule["createdAt"] == rule["updatedAt"]
    assert rule["createdAt"].endswith("Z")
    fetched = await stub.GetAlertRule(
        alerting_pb2.GetAlertRuleRequest(rule_id=reply.rule.rule_id), metadata=as_user(token_minter, role="viewer")
    )
    assert fetched.rule == reply.rule
    (changed,) = [p for k, p in stack.events if k == "alerting.rule_changed"]
    event = events_pb2.RuleChanged.FromString(changed)
    assert (event.rule_id, event.change, event.meta.actor_user_id) == (reply.rule.rule_id, "created", "user-admin")
    assert event.rule == reply.rule


async def test_invalid_rules_name_each_field(
    stub: alerting_pb2_grpc.AlertingServiceAsyncStub, token_minter: TokenMinter
) -> None:
    admin = as_user(token_minter, role="admin")
    unknown_type = create_request(deviceType="toaster-v1")
    reason, _, fields = await expect_error(
        stub.CreateAlertRule(unknown_type, metadata=admin), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (reason, fields) == ("VALIDATION_ERROR", ["deviceType"])
    unknown_metric = create_request(condition={"metric": "pressure", "operator": ">", "threshold": 1})
    _, _, fields = await expect_error(
        stub.CreateAlertRule(unknown_metric, metadata=admin), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert fields == ["condition.metric"]
    several = create_request(
        condition={"metric": "dewPoint", "operator": "=>", "threshold": 1, "duration": -1},
        cooldownPeriod=-1,
        schedule={"type": "custom", "days": ["mon"], "startTime": "09:00", "endTime": "17:00", "timezone": "Nowhere"},
    )
    _, _, fields = await expect_error(stub.CreateAlertRule(several, metadata=admin), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["condition.operator", "condition.duration", "cooldownPeriod", "schedule.timezone"]


async def test_only_admins_change_rules_and_other_organizations_do_not_see_them(
    stub: alerting_pb2_grpc.AlertingServiceAsyncStub, token_minter: TokenMinter
) -> None:
    reason, _, _ = await expect_error(
        stub.CreateAlertRule(create_request(), metadata=as_user(token_minter, role="operator")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert reason == "FORBIDDEN"
    rule = (await stub.CreateAlertRule(create_request(), metadata=as_user(token_minter, role="admin"))).rule
    elsewhere = as_user(token_minter, role="admin", org="org-2")
    request = alerting_pb2.GetAlertRuleRequest(rule_id=rule.rule_id)
    reason, details, _ = await expect_error(stub.GetAlertRule(request, metadata=elsewhere), grpc.StatusCode.NOT_FOUND)
    assert (reason, details) == ("RULE_NOT_FOUND", {"ruleId": rule.rule_id})
    listed = await stub.ListAlertRules(alerting_pb2.ListAlertRulesRequest(), metadata=elsewhere)
    assert list(listed.items) == []


async def test_update_list_and_soft_delete(
    stub: alerting_pb2_grpc.AlertingServiceAsyncStub, stack: AlertingStack, token_minter: TokenMinter
) -> None:
    admin = as_user(token_minter, role="admin")
    first = (await stub.CreateAlertRule(create_request(), metadata=admin)).rule
    second = (await stub.CreateAlertRule(create_request(name="Dry air", severity="info"), metadata=admin)).rule
    update = json_format.ParseDict(
        {
            "ruleId": first.rule_id,
            "severity": "critical",
            "deviceIds": ["dev-1", "dev-2"],
            "conditions": [
                {"metric": "temperature", "operator": ">", "threshold": 45},
                {"metric": "humidity", "operator": "<", "threshold": 20},
            ],
            "combine": "any",
            "schedule": {"type": "business-hours", "timezone": "Europe/Paris"},
        },
        alerting_pb2.UpdateAlertRuleRequest(),
    )
    updated = as_json((await stub.UpdateAlertRule(update, metadata=admin)).rule)
    assert (updated["severity"], updated["deviceIds"], updated["combine"]) == ("critical", ["dev-1", "dev-2"], "any")
    assert "condition" not in updated
    assert [c["metric"] for c in updated["conditions"]] == ["temperature", "humidity"]
    assert updated["schedule"] == {"type": "business-hours", "days": [], "timezone": "Europe/Paris"}
    assert (updated["name"], updated["cooldownPeriod"]) == (SPEC_RULE["name"], 900)
    everything = json_format.ParseDict(
        {"ruleId": first.rule_id, "deviceIds": []}, alerting_pb2.UpdateAlertRuleRequest()
    )
    assert list((await stub.UpdateAlertRule(everything, metadata=admin)).rule.device_ids) == []

    viewer = as_user(token_minter, role="viewer")
    page = await stub.ListAlertRules(alerting_pb2.ListAlertRulesRequest(page_size=1), metadata=viewer)
    assert [r.rule_id for r in page.items] == [second.rule_id]
    assert as_json(page.pagination) == {
        "page": 1,
        "pageSize": 1,
        "totalItems": 2,
        "totalPages": 2,
        "hasNext": True,
        "hasPrevious": False,
    }
    critical = await stub.ListAlertRules(alerting_pb2.ListAlertRulesRequest(severity="critical"), metadata=viewer)
    assert [r.rule_id for r in critical.items] == [first.rule_id]

    deleted = await stub.DeleteAlertRule(alerting_pb2.DeleteAlertRuleRequest(rule_id=first.rule_id), metadata=admin)
    assert deleted.rule_id == first.rule_id
    assert deleted.deleted_at.seconds > 0
    await expect_error(
        stub.GetAlertRule(alerting_pb2.GetAlertRuleRequest(rule_id=first.rule_id), metadata=viewer),
        grpc.StatusCode.NOT_FOUND,
    )
    remaining = await stub.ListAlertRules(alerting_pb2.ListAlertRulesRequest(), metadata=viewer)
    assert [r.rule_id for r in remaining.items] == [second.rule_id]
    changes = [events_pb2.RuleChanged.FromString(p).change for k, p in stack.events if k == "alerting.rule_changed"]
    assert changes == ["created", "created", "updated", "updated", "deleted"]


async def test_the_alert_workflow_in_the_spec_shape(
    stub: alerting_pb2_grpc.AlertingServiceAsyncStub,
    stack: AlertingStack,
    store: SqliteAlertingStore,
    token_minter: TokenMinter,
) -> None:
    alert = an_alert(alert_id="alert-123")
    related = an_alert(
        alert_id="alert-124", device_id="dev-2", device_name="Office-Temp-Sensor-2", triggered_at_ms=T0_MS + 120_000
    )
    await stored(store, alert, related)
    operator = as_user(token_minter, role="operator", user="user-456")
    reason, _, _ = await expect_error(
        stub.ResolveAlert(alerting_pb2.ResolveAlertRequest(alert_id="alert-123", resolution="x"), metadata=operator),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason == "ALERT_NOT_ACKNOWLEDGED"
    acknowledge = alerting_pb2.AcknowledgeAlertRequest(alert_id="alert-123", comment="Checking HVAC system")
    acknowledged = as_json((await stub.AcknowledgeAlert(acknowledge, metadata=operator)).alert)
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledgedBy"] == {"userId": "user-456", "name": "Name of user-456"}
    assert stack.identity.asked_by == ["user-456"]
    reason, details, _ = await expect_error(
        stub.AcknowledgeAlert(alerting_pb2.AcknowledgeAlertRequest(alert_id="alert-123"), metadata=operator),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert (reason, details) == ("ALERT_ALREADY_ACKNOWLEDGED", {"alertId": "alert-123", "status": "acknowledged"})

    delivered = notification_events.NotificationDelivered(
        delivery=notification_pb2.Delivery(alert_id="alert-123", channel="email", status="sent")
    )
    for channel, status in (("email", "sent"), ("push", "sent"), ("sms", "failed"), ("email", "sent")):
        delivered.delivery.channel, delivered.delivery.status = channel, status
        await stack.bus.publish("notification.delivered", delivered)

    viewer = as_user(token_minter, role="viewer")
    body = as_json((await stub.GetAlert(alerting_pb2.GetAlertRequest(alert_id="alert-123"), metadata=viewer)).alert)
    assert set(body) == SPEC_ALERT_KEYS | {"organizationId"}
    assert {k: body[k] for k in ("alertId", "ruleId", "ruleName", "deviceId", "deviceName")} == {
        "alertId": "alert-123",
        "ruleId": "rule-temp-high",
        "ruleName": "High Temperature Alert",
        "deviceId": "dev-abc123",
        "deviceName": "Office-Temp-Sensor-1",
    }
    assert (body["severity"], body["condition"], body["actualValue"], body["threshold"]) == (
        "warning",
        "temperature > 40",
        42.5,
        40,
    )
    assert body["triggeredAt"] == "2025-11-15T10:00:00Z"
    assert body["notificationsSent"] == ["email", "push"]
    (comment,) = body["comments"]
    assert (comment["userId"], comment["comment"]) == ("user-456", "Checking HVAC system")
    assert comment["timestamp"] == body["acknowledgedAt"]
    assert body["relatedAlerts"] == [
        {"alertId": "alert-124", "deviceName": "Office-Temp-Sensor-2", "triggeredAt": "2025-11-15T10:02:00Z"}
    ]

    resolve = alerting_pb2.ResolveAlertRequest(
        alert_id="alert-123", resolution="HVAC system adjusted", prevention_notes="Schedule regular HVAC maintenance"
    )
    resolved = as_json((await stub.ResolveAlert(resolve, metadata=operator)).alert)
    assert (resolved["status"], resolved["resolution"], resolved["preventionNotes"]) == (
        "resolved",
        "HVAC system adjusted",
        "Schedule regular HVAC maintenance",
    )
    assert resolved["resolvedBy"] == {"userId": "user-456", "name": "Name of user-456"}
    reason, _, _ = await expect_error(
        stub.ResolveAlert(replace_request(resolve), metadata=operator), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert reason == "ALERT_ALREADY_RESOLVED"
    keys = [k for k in stack.routing_keys() if k in ("alerting.alert_acknowledged", "alerting.alert_resolved")]
    assert keys == ["alerting.alert_acknowledged", "alerting.alert_resolved"]


def replace_request(request: alerting_pb2.ResolveAlertRequest) -> alerting_pb2.ResolveAlertRequest:
    copy = alerting_pb2.ResolveAlertRequest()
    copy.CopyFrom(request)
    copy.resolution = "again"
    return copy


async def test_viewers_read_alerts_but_do_not_act_and_other_organizations_get_404(
    stub: alerting_pb2_grpc.AlertingServiceAsyncStub, store: SqliteAlertingStore, token_minter: TokenMinter
) -> None:
    await stored(store, an_alert())
    viewer = as_user(token_minter, role="viewer")
    await expect_error(
        stub.AcknowledgeAlert(alerting_pb2.AcknowledgeAlertRequest(alert_id="alert-123"), metadata=viewer),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    elsewhere = as_user(token_minter, role="admin", org="org-2")
    reason, _, _ = await expect_error(
        stub.GetAlert(alerting_pb2.GetAlertRequest(alert_id="alert-123"), metadata=elsewhere), grpc.StatusCode.NOT_FOUND
    )
    assert reason == "ALERT_NOT_FOUND"


async def test_alerts_list_with_filters_and_pagination(
    stub: alerting_pb2_grpc.AlertingServiceAsyncStub, store: SqliteAlertingStore, token_minter: TokenMinter
) -> None:
    await stored(
        store,
        *(
            an_alert(
                alert_id=f"alert-{i}", device_id=f"dev-{i % 2}", rule_id=f"rule-{i}", triggered_at_ms=T0_MS + i * 60_000
            )
            for i in range(5)
        ),
    )
    viewer = as_user(token_minter, role="viewer")
    request = json_format.ParseDict(
        {"deviceId": "dev-0", "status": "triggered", "startDate": "2025-11-15T10:01:00Z", "pageSize": 1},
        alerting_pb2.ListAlertsRequest(),
    )
    reply = as_json(await stub.ListAlerts(request, metadata=viewer))
    assert [a["alertId"] for a in reply["items"]] == ["alert-4"]
    assert reply["pagination"] == {
        "page": 1,
        "pageSize": 1,
        "totalItems": 2,
        "totalPages": 2,
        "hasNext": True,
        "hasPrevious": False,
    }
    _, _, fields = await expect_error(
        stub.ListAlerts(alerting_pb2.ListAlertsRequest(status="open", page_size=500), metadata=viewer),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields == ["status"]


async def test_count_active_alerts_is_internal(
    stub: alerting_pb2_grpc.AlertingServiceAsyncStub, store: SqliteAlertingStore, token_minter: TokenMinter
) -> None:
    await stored(store, an_alert(), an_alert(alert_id="alert-2", rule_id="rule-2"))
    request = alerting_pb2.CountActiveAlertsRequest(device_id="dev-abc123")
    await expect_error(
        stub.CountActiveAlerts(request, metadata=as_user(token_minter, role="admin")), grpc.StatusCode.PERMISSION_DENIED
    )
    reply = await stub.CountActiveAlerts(request, metadata=as_service(token_minter, "device"))
    assert reply.count == 2
