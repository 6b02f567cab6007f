"""Creating and updating rules: the spec's payload works, and every invalid field is named at once."""

from __future__ import annotations

import datetime
from dataclasses import replace

import pytest

from services.alerting.adapters.memory import InMemoryAlertingStore
from services.alerting.domain.commands import ActionsInput, ConditionInput, CreateRule, ScheduleInput, UpdateRule
from services.alerting.domain.errors import InvalidRule, RuleNotFound
from services.alerting.domain.rules import Combine, Condition, ConditionKind, Operator, ScheduleType, Severity
from services.alerting.domain.service import AlertingService
from services.alerting.ports import RuleChange
from services.kernel.caller import Role
from services.kernel.errors import PermissionDenied
from tests.unit.alerting.builders import a_caller
from tests.unit.alerting.fakes import FixedDeviceTypes, NamesFromIds, RecordingEvents

SPEC_RULE = CreateRule(
    name="High Temperature Alert",
    description="Alert when temperature exceeds 40°C",
    device_type="temperature-sensor-v2",
    device_ids=(),
    condition=ConditionInput("temperature", ">", 40, 300),
    severity="warning",
    actions=ActionsInput(("email", "push"), ()),
    cooldown_period=900,
    schedule=ScheduleInput("always"),
)


@pytest.fixture
def events() -> RecordingEvents:
    return RecordingEvents()


@pytest.fixture
def service(events: RecordingEvents) -> AlertingService:
    return AlertingService(InMemoryAlertingStore(), FixedDeviceTypes(), NamesFromIds(), events)


async def fields_of(service: AlertingService, command: CreateRule) -> dict[str, str]:
    with pytest.raises(InvalidRule) as caught:
        await service.create_rule(a_caller(), command)
    assert caught.value.reason == "VALIDATION_ERROR"
    return {v.field: v.description for v in caught.value.violations}


async def test_the_spec_rule_is_created_as_one_condition_combined_with_all(
    service: AlertingService, events: RecordingEvents
) -> None:
    rule = await service.create_rule(a_caller(user="user-admin"), SPEC_RULE)
    assert rule.rule_id.startswith("rule-")
    assert rule.conditions == (Condition("temperature", Operator.GT, 40.0, 300),)
    assert (rule.combine, rule.severity, rule.cooldown_seconds) == (Combine.ALL, Severity.WARNING, 900)
    assert (rule.notifications, rule.webhooks, rule.device_ids) == (("email", "push"), (), frozenset())
    assert rule.schedule.type is ScheduleType.ALWAYS
    assert rule.enabled
    assert rule.organization_id == "org-1"
    assert events.log.rule_changes == [(rule.rule_id, RuleChange.CREATED, "user-admin")]
    assert await service.get_rule(a_caller(Role.VIEWER), rule.rule_id) == rule


async def test_only_admins_create_rules(service: AlertingService) -> None:
    with pytest.raises(PermissionDenied):
        await service.create_rule(a_caller(Role.OPERATOR), SPEC_RULE)


async def test_every_invalid_field_is_named(service: AlertingService) -> None:
    command = replace(
        SPEC_RULE,
        name=" ",
        condition=ConditionInput("temperature", "=>", float("nan"), -1, "sometimes"),
        severity="urgent",
        actions=ActionsInput(("email", "pager"), ("ftp://x",)),
        cooldown_period=-5,
        schedule=ScheduleInput("custom", ("mon", "funday"), "25:00", None, "Mars/Olympus"),
        combine="most",
    )
    assert await fields_of(service, command) == {
        "name": "is required",
        "condition.kind": "must be one of threshold, rate, noData, got 'sometimes'",
        "condition.operator": "must be one of >, >=, <, <=, ==, !=, got '=>'",
        "condition.threshold": "must be a finite number",
        "condition.duration": "must be 0 or more seconds, got -1",
        "combine": "must be all or any, got 'most'",
        "severity": "must be one of info, warning, critical, got 'urgent'",
        "actions.notifications[1]": "must be one of email, push, sms, got 'pager'",
        "actions.webhooks[0].url": "must be an http(s) URL, got 'ftp://x'",
        "cooldownPeriod": "must be 0 or more seconds, got -5",
        "schedule.timezone": "unknown IANA time zone 'Mars/Olympus' (e.g. Europe/Paris, UTC)",
        "schedule.days[1]": "must be one of mon, tue, wed, thu, fri, sat, sun, got 'funday'",
        "schedule.startTime": "must be a time of day as HH:MM, got '25:00'",
        "schedule.endTime": "a custom schedule needs it, as HH:MM",
    }


async def test_an_unknown_device_type_names_device_type(service: AlertingService) -> None:
    fields = await fields_of(service, replace(SPEC_RULE, device_type="toaster-v1"))
    assert fields == {"deviceType": "unknown device type 'toaster-v1'"}


async def test_a_metric_the_type_does_not_report_names_the_condition_metric(service: AlertingService) -> None:
    fields = await fields_of(service, replace(SPEC_RULE, condition=ConditionInput("pressure", ">", 1)))
    assert list(fields) == ["condition.metric"]
    assert "'pressure' is not a metric of device type 'temperature-sensor-v2'" in fields["condition.metric"]
    many = replace(
        SPEC_RULE, condition=None, conditions=(ConditionInput("temperature", ">", 1), ConditionInput("rpm", "<", 2))
    )
    assert list(await fields_of(service, many)) == ["conditions[1].metric"]


async def test_anomaly_scores_of_a_known_metric_are_metrics_too(service: AlertingService) -> None:
    scored = replace(SPEC_RULE, condition=ConditionInput("anomaly.temperature", ">", 3))
    rule = await service.create_rule(a_caller(), scored)
    assert rule.condition_text() == "anomaly.temperature > 3"
    unknown = replace(SPEC_RULE, condition=ConditionInput("anomaly.pressure", ">", 3))
    assert list(await fields_of(service, unknown)) == ["condition.metric"]


async def test_a_condition_is_required_and_not_twice(service: AlertingService) -> None:
    assert await fields_of(service, replace(SPEC_RULE, condition=None)) == {"condition": "is required"}
    both = replace(SPEC_RULE, conditions=(ConditionInput("humidity", "<", 10),))
    assert list(await fields_of(service, both)) == ["conditions"]


async def test_several_conditions_of_every_kind_and_a_custom_schedule(service: AlertingService) -> None:
    command = replace(
        SPEC_RULE,
        condition=None,
        conditions=(
            ConditionInput("temperature", ">", 40),
            ConditionInput("temperature", ">", 2, kind="rate"),
            ConditionInput("co2", "", 0, 600, kind="noData"),
        ),
        combine="any",
        schedule=ScheduleInput("custom", ("fri", "Saturday"), "22:00", "06:30", "Europe/Paris"),
    )
    rule = await service.create_rule(a_caller(), command)
    assert [c.kind for c in rule.conditions] == [ConditionKind.THRESHOLD, ConditionKind.RATE, ConditionKind.NO_DATA]
    assert rule.combine is Combine.ANY
    assert rule.schedule.days == frozenset({4, 5})
    assert (rule.schedule.start, rule.schedule.end) == (datetime.time(22), datetime.time(6, 30))
    assert rule.condition_text() == "temperature > 40 OR rate(temperature) > 2/min OR no data for co2 in 600 s"


async def test_days_and_times_belong_to_custom_schedules_only(service: AlertingService) -> None:
    fields = await fields_of(service, replace(SPEC_RULE, schedule=ScheduleInput("business-hours", ("mon",))))
    assert list(fields) == ["schedule.days"]
    fields = await fields_of(service, replace(SPEC_RULE, schedule=ScheduleInput("custom", (), "09:00", "17:00")))
    assert list(fields) == ["schedule.days"]


async def test_updates_change_only_what_is_given_and_are_checked_as_a_whole(
    service: AlertingService, events: RecordingEvents
) -> None:
    rule = await service.create_rule(a_caller(), SPEC_RULE)
    updated = await service.update_rule(
        a_caller(), UpdateRule(rule.rule_id, severity="critical", cooldown_period=60, device_ids=("dev-1",))
    )
    assert (updated.severity, updated.cooldown_seconds, updated.device_ids) == (Severity.CRITICAL, 60, {"dev-1"})
    assert (updated.name, updated.conditions) == (rule.name, rule.conditions)
    assert events.log.rule_changes[-1] == (rule.rule_id, RuleChange.UPDATED, "user-456")
    with pytest.raises(InvalidRule) as caught:
        await service.update_rule(a_caller(), UpdateRule(rule.rule_id, device_type="toaster-v1", cooldown_period=-1))
    assert [v.field for v in caught.value.violations] == ["cooldownPeriod", "deviceType"]
    assert await service.get_rule(a_caller(), rule.rule_id) == updated


async def test_changing_the_type_checks_the_kept_conditions_against_it() -> None:
    types = FixedDeviceTypes({"temperature-sensor-v2": frozenset({"temperature"}), "pump-v1": frozenset({"rpm"})})
    service = AlertingService(InMemoryAlertingStore(), types, NamesFromIds(), RecordingEvents())
    rule = await service.create_rule(a_caller(), SPEC_RULE)
    with pytest.raises(InvalidRule) as caught:
        await service.update_rule(a_caller(), UpdateRule(rule.rule_id, device_type="pump-v1"))
    assert [v.field for v in caught.value.violations] == ["condition.metric"]
    moved = await service.update_rule(
        a_caller(), UpdateRule(rule.rule_id, device_type="pump-v1", condition=ConditionInput("rpm", "<", 100))
    )
    assert (moved.device_type, moved.condition_text()) == ("pump-v1", "rpm < 100")


async def test_deleted_rules_are_gone_for_users_and_another_organization_never_sees_them(
    service: AlertingService, events: RecordingEvents
) -> None:
    rule = await service.create_rule(a_caller(), SPEC_RULE)
    with pytest.raises(RuleNotFound):
        await service.get_rule(a_caller(org="org-2"), rule.rule_id)
    with pytest.raises(RuleNotFound):
        await service.delete_rule(a_caller(org="org-2"), rule.rule_id)
    deleted = await service.delete_rule(a_caller(), rule.rule_id)
    assert deleted.deleted_at_ms is not None
    assert events.log.rule_changes[-1] == (rule.rule_id, RuleChange.DELETED, "user-456")
    for attempt in (service.get_rule(a_caller(), rule.rule_id), service.delete_rule(a_caller(), rule.rule_id)):
        with pytest.raises(RuleNotFound) as caught:
            await attempt
        assert caught.value.reason == "RULE_NOT_FOUND"
    assert await service.rules_for_evaluation() == []
