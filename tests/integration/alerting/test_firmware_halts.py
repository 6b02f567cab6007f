"""The alerting service as its bootstrap builds it (SQLite, PostgreSQL): firmware.deployment_changed events
(real protobuf on the in-process bus) raise one critical alert per halted deployment, which GET /alerts and
/alerts/{id} show, people acknowledge and resolve, and alerting.alert_triggered announces to notification."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc.aio
import pytest
from google.protobuf import json_format
from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc, events_pb2
from iot.common.v1 import common_pb2
from iot.firmware.v1 import events_pb2 as firmware_events
from iot.firmware.v1 import firmware_pb2

from services.alerting.adapters.firmware_consumer import DEPLOYMENT_CHANGED
from services.alerting.bootstrap import AlertingSettings
from services.kernel.ids import new_id
from tests.integration.alerting.support import alerting_stack
from tests.integration.device.support import as_user
from tests.support.postgres import POSTGRES_DSN, scratch_schema
from tests.support.tokens import TokenMinter

HALTED_AT = datetime(2025, 11, 15, 14, 30, tzinfo=UTC)


def deployment_changed(deployment_id: str, status: str, org: str = "org-1") -> firmware_events.DeploymentChanged:
    deployment = firmware_pb2.Deployment(
        deployment_id=deployment_id,
        firmware_id="fw-123",
        firmware_version="v2.1.0",
        strategy="staged",
        status=status,
        progress=firmware_pb2.DeploymentProgress(total=30, succeeded=18, failed=2, in_progress=0, pending=10),
        batches=[
            firmware_pb2.DeploymentBatch(batch_id=1, devices=10, status="completed", success_rate=100),
            firmware_pb2.DeploymentBatch(batch_id=2, devices=10, status="failed", success_rate=80),
            firmware_pb2.DeploymentBatch(batch_id=3, devices=10, status="pending", success_rate=0),
        ],
        success_threshold=95,
    )
    if status == "halted":
        deployment.halt_reason = "batch 2 success rate 80% below 95%"
    meta = common_pb2.EventMeta(event_id=new_id("evt"), organization_id=org)
    meta.occurred_at.FromDatetime(HALTED_AT)
    return firmware_events.DeploymentChanged(meta=meta, deployment=deployment)


def as_json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.needs_server)])
async def settings(request: pytest.FixtureRequest) -> AsyncIterator[AlertingSettings]:
    if request.param == "sqlite":
        yield AlertingSettings(store="sqlite")
        return
    async with scratch_schema("alerting") as schema:
        yield AlertingSettings(store="postgres", postgres_dsn=POSTGRES_DSN, postgres_schema=schema)


async def test_a_halted_deployment_raises_one_critical_alert_shown_by_the_api(
    tmp_path: Path, token_minter: TokenMinter, settings: AlertingSettings
) -> None:
    operator = as_user(token_minter, role="operator")
    async with (
        alerting_stack(token_minter, tmp_path, settings) as stack,
        grpc.aio.insecure_channel(stack.address) as channel,
    ):
        stub = alerting_pb2_grpc.AlertingServiceStub(channel)
        await stack.bus.publish(DEPLOYMENT_CHANGED, deployment_changed("dep-456", "in_progress"))
        halted = deployment_changed("dep-456", "halted")
        await stack.bus.publish(DEPLOYMENT_CHANGED, halted)
        await stack.bus.publish(DEPLOYMENT_CHANGED, halted)  # redelivered
        await stack.bus.publish(DEPLOYMENT_CHANGED, deployment_changed("dep-456", "halted"))  # told again
        await stack.bus.publish(DEPLOYMENT_CHANGED, deployment_changed("dep-999", "halted", org="org-2"))

        listed = await stub.ListAlerts(alerting_pb2.ListAlertsRequest(), metadata=operator)
        [item] = listed.items
        got = await stub.GetAlert(alerting_pb2.GetAlertRequest(alert_id=item.alert_id), metadata=operator)
        body = as_json(got.alert)
        assert {k: body[k] for k in ("ruleId", "ruleName", "deviceId", "deviceName", "severity", "status")} == {
            "ruleId": "system:deployment-halted:dep-456",
            "ruleName": "Firmware deployment halted",
            "deviceId": "",
            "deviceName": "fleet",
            "severity": "critical",
            "status": "triggered",
        }
        assert body["condition"] == "deployment dep-456 of firmware v2.1.0 halted: batch 2 success rate 80% below 95%"
        assert (body["actualValue"], body["threshold"]) == (80, 95)
        assert body["triggeredAt"] == "2025-11-15T14:30:00Z"
        assert body["relatedAlerts"] == []

        critical = await stub.ListAlerts(alerting_pb2.ListAlertsRequest(severity="critical"), metadata=operator)
        assert [a.alert_id for a in critical.items] == [item.alert_id]
        await stub.AcknowledgeAlert(
            alerting_pb2.AcknowledgeAlertRequest(alert_id=item.alert_id, comment="rolling back"), metadata=operator
        )
        resolved = await stub.ResolveAlert(
            alerting_pb2.ResolveAlertRequest(alert_id=item.alert_id, resolution="rolled back to v2.0.0"),
            metadata=operator,
        )
        assert resolved.alert.status == "resolved"

        # Once resolved, a late redelivery still raises nothing.
        await stack.bus.publish(DEPLOYMENT_CHANGED, halted)
        after = await stub.ListAlerts(alerting_pb2.ListAlertsRequest(), metadata=operator)
        assert after.pagination.total_items == 1

    triggered = [events_pb2.AlertTriggered.FromString(p) for k, p in stack.events if k == "alerting.alert_triggered"]
    assert [(t.meta.organization_id, t.alert.rule_id) for t in triggered] == [
        ("org-1", "system:deployment-halted:dep-456"),
        ("org-2", "system:deployment-halted:dep-999"),
    ]
    assert list(triggered[0].actions.notifications) == ["email", "push", "sms"]
    assert stack.bus.dead_letters == []
