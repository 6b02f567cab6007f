"""System alerts from the health check (§6.3, RaiseSystemAlert): one per organization and check while open,
a new one once resolved, validated fields, services only (admin role), published like any alert."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.alerting.adapters.memory import InMemoryAlertingStore
from services.alerting.domain.alerts import AlertStatus
from services.alerting.domain.rules import Severity
from services.alerting.domain.service import AlertingService
from services.alerting.domain.system_alerts import FLEET_DEVICE_NAME, system_check_rule_id
from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied, ValidationFailed
from tests.unit.alerting.builders import T0_MS, a_caller
from tests.unit.alerting.fakes import FixedDeviceTypes, NamesFromIds, RecordingEvents

JOBS = Caller.service("iotmon-jobs")


class Clock:
    def now(self) -> datetime:
        return datetime.fromtimestamp(T0_MS / 1000, UTC)


@pytest.fixture
def events() -> RecordingEvents:
    return RecordingEvents()


@pytest.fixture
def service(events: RecordingEvents) -> AlertingService:
    return AlertingService(InMemoryAlertingStore(), FixedDeviceTypes(), NamesFromIds(), events, Clock())


async def test_a_failed_check_raises_one_alert_while_it_is_open(
    service: AlertingService, events: RecordingEvents
) -> None:
    raised, alert = await service.raise_system_alert(JOBS, "org-1", "health", "critical", "unhealthy: bus down", 2, 0)
    assert raised
    assert alert is not None
    assert (alert.rule_id, alert.device_name, alert.severity) == (
        system_check_rule_id("org-1", "health"),
        FLEET_DEVICE_NAME,
        Severity.CRITICAL,
    )
    assert alert.condition == "unhealthy: bus down"
    assert alert.actual_value == 2
    assert [(a.alert_id, r.notifications) for a, r in events.log.triggered] == [
        (alert.alert_id, ("email", "push", "sms"))
    ]

    again, same = await service.raise_system_alert(JOBS, "org-1", "health", "critical", "still down")
    assert not again
    assert same is not None
    assert same.alert_id == alert.alert_id
    assert len(events.log.triggered) == 1

    # Another organization or another check is another alert.
    other_org, _ = await service.raise_system_alert(JOBS, "org-2", "health", "critical", "down")
    other_check, _ = await service.raise_system_alert(JOBS, "org-1", "disk", "warning", "full")
    assert other_org
    assert other_check

    # Once resolved, the next failure alerts again.
    operator = a_caller(Role.OPERATOR)
    await service.acknowledge(operator, alert.alert_id, None)
    await service.resolve(operator, alert.alert_id, "bus restarted", None)
    after, new = await service.raise_system_alert(JOBS, "org-1", "health", "critical", "down again")
    assert after
    assert new is not None
    assert new.alert_id != alert.alert_id
    assert new.status is AlertStatus.TRIGGERED


async def test_the_request_is_validated_and_users_below_admin_are_refused(service: AlertingService) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await service.raise_system_alert(JOBS, " ", "", "urgent", "x")
    fields = {v.field for v in refused.value.violations}
    assert fields == {"organizationId", "check", "severity"}
    with pytest.raises(PermissionDenied):
        await service.raise_system_alert(a_caller(Role.OPERATOR), "org-1", "health", "critical", "x")
    raised, alert = await service.raise_system_alert(JOBS, "org-1", "health", "", "")
    assert raised
    assert alert is not None
    assert alert.severity is Severity.CRITICAL
    assert alert.condition
