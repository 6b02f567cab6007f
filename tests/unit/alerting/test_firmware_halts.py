"""A halted firmware deployment raises one critical fleet alert, named after the deployment, version and reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from services.alerting.adapters.memory import InMemoryAlertingStore
from services.alerting.domain.alerts import AlertStatus, UserRef
from services.alerting.domain.commands import ListAlerts
from services.alerting.domain.rules import Severity
from services.alerting.domain.service import AlertingService
from services.alerting.domain.system_alerts import (
    DEPLOYMENT_HALTED,
    DeploymentHalted,
    deployment_halted_candidate,
    halt_message,
)
from services.alerting.domain.transitions import acknowledge, resolve
from services.kernel.caller import Role
from tests.unit.alerting.builders import T0_MS, a_caller
from tests.unit.alerting.fakes import FixedDeviceTypes, NamesFromIds, RecordingEvents


class FixedClock:
    def now(self) -> datetime:
        return datetime.fromtimestamp(T0_MS / 1000, UTC)


def a_halt(**changes: Any) -> DeploymentHalted:
    halt = DeploymentHalted(
        organization_id="org-1",
        deployment_id="dep-456",
        firmware_id="fw-123",
        firmware_version="v2.1.0",
        halt_reason="batch 2 success rate 80% below 95%",
        success_rate=80.0,
        success_threshold=95.0,
        batch_id=2,
        at_ms=T0_MS,
    )
    return replace(halt, **changes)


def service_with(events: RecordingEvents) -> tuple[AlertingService, InMemoryAlertingStore]:
    store = InMemoryAlertingStore()
    return AlertingService(store, FixedDeviceTypes(), NamesFromIds(), events, FixedClock()), store


def test_the_message_names_deployment_version_and_reason() -> None:
    assert halt_message(a_halt()) == (
        "deployment dep-456 of firmware v2.1.0 halted: batch 2 success rate 80% below 95%"
    )


def test_without_a_reason_the_message_says_the_batch_rate_and_threshold() -> None:
    message = halt_message(a_halt(halt_reason="", success_rate=72.5, success_threshold=90.0, batch_id=3))
    assert message == "deployment dep-456 of firmware v2.1.0 halted: batch 3 success rate 72.5% below 90%"
    assert halt_message(a_halt(halt_reason="", success_rate=None)).endswith("halted: no reason given")


def test_the_candidate_is_a_critical_fleet_alert_of_the_deployments_system_rule() -> None:
    candidate = deployment_halted_candidate(a_halt())
    rule = candidate.rule
    assert rule.rule_id == f"{DEPLOYMENT_HALTED}:dep-456"
    assert rule.severity is Severity.CRITICAL
    assert rule.notifications == ("email", "push", "sms")
    assert rule.organization_id == "org-1"
    assert (candidate.device_id, candidate.device_name) == ("", "fleet")
    assert (candidate.actual_value, candidate.threshold, candidate.at_ms) == (80.0, 95.0, T0_MS)


async def test_one_alert_per_deployment_however_often_the_halt_is_told() -> None:
    events = RecordingEvents()
    service, _ = service_with(events)

    first = await service.raise_deployment_halted(a_halt())
    again = await service.raise_deployment_halted(a_halt(at_ms=T0_MS + 60_000))
    other = await service.raise_deployment_halted(a_halt(deployment_id="dep-789"))

    assert first is not None
    assert again is None
    assert other is not None
    assert [(a.rule_id, r.severity) for a, r in events.log.triggered] == [
        (f"{DEPLOYMENT_HALTED}:dep-456", Severity.CRITICAL),
        (f"{DEPLOYMENT_HALTED}:dep-789", Severity.CRITICAL),
    ]
    listed = await service.list_alerts(a_caller(Role.VIEWER), ListAlerts())
    assert sorted(a.rule_id for a in listed.items) == sorted(a.rule_id for a, _ in events.log.triggered)


async def test_a_resolved_halt_alert_is_not_raised_again_by_a_late_redelivery() -> None:
    events = RecordingEvents()
    service, store = service_with(events)
    alert = await service.raise_deployment_halted(a_halt())
    assert alert is not None
    by = UserRef("user-1", "Jane")
    acknowledged = acknowledge(alert, by, None, T0_MS + 1)
    assert await store.save_alert(acknowledged, expected_status=AlertStatus.TRIGGERED)
    assert await store.save_alert(
        resolve(acknowledged, by, "rolled back", None, T0_MS + 2), expected_status=AlertStatus.ACKNOWLEDGED
    )

    assert await service.raise_deployment_halted(a_halt(at_ms=T0_MS + 86_400_000)) is None
    assert len(events.log.triggered) == 1
