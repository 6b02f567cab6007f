"""Alerts through the use cases: raising (de-duplication, cooldown), listing, acknowledging, resolving."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.alerting.adapters.memory import InMemoryAlertingStore
from services.alerting.domain.alerts import AlertStatus, Comment, UserRef
from services.alerting.domain.commands import ListAlerts
from services.alerting.domain.errors import (
    AlertAlreadyAcknowledged,
    AlertNotAcknowledged,
    AlertNotFound,
)
from services.alerting.domain.service import AlertingService
from services.kernel.caller import Role
from services.kernel.errors import PermissionDenied, ValidationFailed
from tests.unit.alerting.builders import T0_MS, a_caller, a_candidate, a_rule
from tests.unit.alerting.fakes import FixedDeviceTypes, NamesFromIds, RecordingEvents

MINUTE = 60_000


class FixedClock:
    def __init__(self, ms: int = T0_MS + 5 * MINUTE):
        self.ms = ms

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.ms / 1000, UTC)


@pytest.fixture
def events() -> RecordingEvents:
    return RecordingEvents()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def service(events: RecordingEvents, clock: FixedClock) -> AlertingService:
    return AlertingService(InMemoryAlertingStore(), FixedDeviceTypes(), NamesFromIds(), events, clock)


async def test_a_raised_alert_is_stored_and_published_with_its_rule(
    service: AlertingService, events: RecordingEvents
) -> None:
    rule = a_rule()
    alert = await service.raise_alert(a_candidate(rule))
    assert alert is not None
    assert alert.alert_id.startswith("alert-")
    assert (alert.status, alert.condition, alert.actual_value, alert.threshold) == (
        AlertStatus.TRIGGERED,
        "temperature > 40",
        42.5,
        40.0,
    )
    assert (alert.rule_name, alert.device_name, alert.severity) == (rule.name, "Office-Temp-Sensor-1", rule.severity)
    assert events.log.triggered == [(alert, rule)]
    assert (await service.get_alert(a_caller(Role.VIEWER), alert.alert_id)).alert == alert


async def test_an_open_alert_and_then_the_cooldown_hold_back_new_ones(
    service: AlertingService, events: RecordingEvents
) -> None:
    first = await service.raise_alert(a_candidate())
    assert first is not None
    assert await service.raise_alert(a_candidate(at_ms=T0_MS + 60 * MINUTE)) is None
    await service.acknowledge(a_caller(Role.OPERATOR), first.alert_id, None)
    await service.resolve(a_caller(Role.OPERATOR), first.alert_id, "fixed", None)
    assert await service.raise_alert(a_candidate(at_ms=T0_MS + 10 * MINUTE)) is None  # 900 s cooldown
    assert await service.raise_alert(a_candidate(at_ms=T0_MS + 16 * MINUTE)) is not None
    assert await service.raise_alert(a_candidate(device_id="dev-2")) is not None
    assert len(events.log.triggered) == 3


async def test_acknowledge_then_resolve_with_names_comments_and_events(
    service: AlertingService, events: RecordingEvents
) -> None:
    alert = await service.raise_alert(a_candidate())
    assert alert is not None
    operator = a_caller(Role.OPERATOR, user="user-op")
    acknowledged = await service.acknowledge(operator, alert.alert_id, "  Checking HVAC system ")
    assert acknowledged.acknowledged_by == UserRef("user-op", "Name of user-op")
    assert acknowledged.comments == (Comment("user-op", "Checking HVAC system", T0_MS + 5 * MINUTE),)
    with pytest.raises(AlertAlreadyAcknowledged):
        await service.acknowledge(operator, alert.alert_id, None)
    resolved = await service.resolve(operator, alert.alert_id, "HVAC adjusted", "Maintain it")
    assert (resolved.status, resolved.resolved_by) == (AlertStatus.RESOLVED, UserRef("user-op", "Name of user-op"))
    assert [a.status for a, _ in events.log.acknowledged + events.log.resolved] == [
        AlertStatus.ACKNOWLEDGED,
        AlertStatus.RESOLVED,
    ]
    assert (await service.get_alert(a_caller(Role.VIEWER), alert.alert_id)).alert == resolved


async def test_resolving_needs_acknowledgement_a_resolution_and_an_operator(service: AlertingService) -> None:
    alert = await service.raise_alert(a_candidate())
    assert alert is not None
    with pytest.raises(AlertNotAcknowledged):
        await service.resolve(a_caller(Role.OPERATOR), alert.alert_id, "fixed", None)
    with pytest.raises(ValidationFailed) as missing:
        await service.resolve(a_caller(Role.OPERATOR), alert.alert_id, " ", None)
    assert [v.field for v in missing.value.violations] == ["resolution"]
    with pytest.raises(PermissionDenied):
        await service.acknowledge(a_caller(Role.VIEWER), alert.alert_id, None)


async def test_another_organizations_alert_is_not_found(service: AlertingService) -> None:
    alert = await service.raise_alert(a_candidate())
    assert alert is not None
    for attempt in (
        service.get_alert(a_caller(org="org-2"), alert.alert_id),
        service.acknowledge(a_caller(org="org-2"), alert.alert_id, None),
    ):
        with pytest.raises(AlertNotFound) as caught:
            await attempt
        assert caught.value.reason == "ALERT_NOT_FOUND"


async def test_related_alerts_are_the_other_open_alerts_of_the_rule(service: AlertingService) -> None:
    raised = [await service.raise_alert(a_candidate(device_id=f"dev-{i}", at_ms=T0_MS + i)) for i in range(3)]
    other_rule = await service.raise_alert(a_candidate(a_rule(rule_id="rule-other")))
    assert all(raised)
    assert other_rule is not None
    view = await service.get_alert(a_caller(), raised[0].alert_id)  # type: ignore[union-attr]
    assert [a.device_id for a in view.related] == ["dev-2", "dev-1"]


async def test_listing_validates_filters(service: AlertingService) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await service.list_alerts(a_caller(), ListAlerts(status="open", severity="huge", start_ms=2, end_ms=1))
    assert [v.field for v in caught.value.violations] == ["status", "severity", "endDate"]
    with pytest.raises(ValidationFailed) as page:
        await service.list_alerts(a_caller(), ListAlerts(page_size=101))
    assert [v.field for v in page.value.violations] == ["pageSize"]


async def test_delivered_notifications_show_once_per_channel(service: AlertingService) -> None:
    alert = await service.raise_alert(a_candidate())
    assert alert is not None
    for channel, status in (("email", "sent"), ("sms", "failed"), ("email", "sent"), ("push", "sent")):
        await service.record_delivery(alert.alert_id, channel, status)
    shown = (await service.get_alert(a_caller(), alert.alert_id)).alert
    assert shown.notifications_sent == ("email", "push")


async def test_the_cleanup_deletes_resolved_alerts_older_than_the_age(
    service: AlertingService, clock: FixedClock
) -> None:
    old = await service.raise_alert(a_candidate(device_id="dev-old"))
    recent = await service.raise_alert(a_candidate(device_id="dev-recent"))
    assert old is not None
    assert recent is not None
    operator = a_caller(Role.OPERATOR)
    await service.acknowledge(operator, old.alert_id, None)
    await service.resolve(operator, old.alert_id, "fixed", None)
    clock.ms += 89 * 24 * 3600 * 1000
    await service.acknowledge(operator, recent.alert_id, None)
    await service.resolve(operator, recent.alert_id, "fixed", None)
    clock.ms += 2 * 24 * 3600 * 1000
    assert await service.delete_old_resolved(90 * 24 * 3600 * 1000) == 1
    with pytest.raises(AlertNotFound):
        await service.get_alert(a_caller(), old.alert_id)
    assert (await service.get_alert(a_caller(), recent.alert_id)).alert.status is AlertStatus.RESOLVED


async def test_counting_active_alerts_of_a_device(service: AlertingService) -> None:
    alert = await service.raise_alert(a_candidate())
    assert alert is not None
    assert await service.count_active(a_caller(), "dev-abc123") == 1
    assert await service.count_active(a_caller(), "dev-none") == 0
