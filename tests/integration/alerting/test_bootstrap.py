"""The bootstrap's choices for real: rules survive a restart on SQLite and on PostgreSQL, and the cleanup
job deletes old resolved alerts while the service runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import grpc.aio
import pytest
from google.protobuf import json_format
from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc

from services.alerting.adapters.sqlite import SqliteAlertingStore
from services.alerting.bootstrap import AlertingSettings
from services.alerting.domain.alerts import AlertStatus
from services.alerting.domain.listing import AlertFilter
from services.kernel.pagination import PageRequest
from tests.integration.alerting.support import alerting_stack
from tests.integration.alerting.test_servicer import SPEC_RULE
from tests.integration.device.support import as_user
from tests.support.postgres import POSTGRES_DSN, scratch_schema
from tests.support.tokens import TokenMinter
from tests.unit.alerting.builders import T0_MS, an_alert


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.needs_server)])
async def settings(request: pytest.FixtureRequest) -> AsyncIterator[AlertingSettings]:
    if request.param == "sqlite":
        yield AlertingSettings(store="sqlite")
        return
    async with scratch_schema("alerting") as schema:
        yield AlertingSettings(store="postgres", postgres_dsn=POSTGRES_DSN, postgres_schema=schema)


async def test_rules_survive_a_restart(tmp_path: Path, token_minter: TokenMinter, settings: AlertingSettings) -> None:
    admin = as_user(token_minter, role="admin")
    request = json_format.ParseDict(SPEC_RULE, alerting_pb2.CreateAlertRuleRequest())
    async with (
        alerting_stack(token_minter, tmp_path, settings) as first,
        grpc.aio.insecure_channel(first.address) as channel,
    ):
        created = await alerting_pb2_grpc.AlertingServiceStub(channel).CreateAlertRule(request, metadata=admin)
    async with (
        alerting_stack(token_minter, tmp_path, settings) as second,
        grpc.aio.insecure_channel(second.address) as channel,
    ):
        stub = alerting_pb2_grpc.AlertingServiceStub(channel)
        listed = await stub.ListAlertRules(alerting_pb2.ListAlertRulesRequest(), metadata=admin)
    assert list(listed.items) == [created.rule]


async def test_the_cleanup_job_deletes_resolved_alerts_older_than_the_age(
    tmp_path: Path, token_minter: TokenMinter
) -> None:
    store = SqliteAlertingStore(tmp_path / "alerting.db")
    old = an_alert(alert_id="alert-old", device_id="dev-1")
    recent = an_alert(alert_id="alert-recent", device_id="dev-2")
    for alert in (old, recent):
        assert await store.add_alert_unless_open_or_cooling(alert, 0)
    resolved = replace(old, status=AlertStatus.RESOLVED, resolved_at_ms=T0_MS - 400 * 86_400_000)  # long ago
    assert await store.save_alert(resolved, expected_status=AlertStatus.TRIGGERED)
    settings = AlertingSettings(store="sqlite", cleanup_after_days=30, cleanup_interval_seconds=0.05)
    async with alerting_stack(token_minter, tmp_path, settings, background=True):
        for _ in range(100):
            remaining = await store.list_alerts("org-1", AlertFilter(), PageRequest())
            if remaining.total_items == 1:
                break
            await asyncio.sleep(0.05)
    await store.close()
    assert [a.alert_id for a in remaining.items] == ["alert-recent"]
