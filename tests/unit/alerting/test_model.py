"""The shared model: operators, condition texts, which devices a rule watches, schedule windows."""

from __future__ import annotations

import datetime

import pytest

from services.alerting.domain.rules import (
    Combine,
    Condition,
    ConditionKind,
    Operator,
    Schedule,
    ScheduleType,
)
from tests.unit.alerting.builders import a_rule

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Operator.GT, 40.0, False),
        (Operator.GT, 40.1, True),
        (Operator.GE, 40.0, True),
        (Operator.LT, 39.9, True),
        (Operator.LE, 40.1, False),
        (Operator.EQ, 40.0, True),
        (Operator.NE, 40.0, False),
        (Operator.NE, 41.0, True),
    ],
)
def test_operators_compare_a_value_with_the_threshold(operator: Operator, value: float, expected: bool) -> None:
    assert operator.compare(value, 40.0) is expected


def test_condition_texts_print_thresholds_as_people_wrote_them() -> None:
    assert Condition("temperature", Operator.GT, 40.0).text() == "temperature > 40"
    assert Condition("temperature", Operator.LE, -2.5).text() == "temperature <= -2.5"
    assert Condition("temperature", Operator.GT, 2, kind=ConditionKind.RATE).text() == "rate(temperature) > 2/min"
    no_data = Condition("co2", Operator.GT, 0, 600, ConditionKind.NO_DATA)
    assert no_data.text() == "no data for co2 in 600 s"


def test_a_rule_joins_its_conditions_with_and_or_or() -> None:
    both = (Condition("temperature", Operator.GT, 40), Condition("humidity", Operator.LT, 20))
    assert a_rule(conditions=both).condition_text() == "temperature > 40 AND humidity < 20"
    assert a_rule(conditions=both, combine=Combine.ANY).condition_text() == "temperature > 40 OR humidity < 20"
    assert a_rule(conditions=both).metrics == frozenset({"temperature", "humidity"})


def test_a_rule_applies_to_devices_of_its_type_it_names_or_all_when_it_names_none() -> None:
    every = a_rule()
    assert every.applies_to("dev-1", "temperature-sensor-v2")
    assert not every.applies_to("dev-1", "pump-v1")
    named = a_rule(device_ids=frozenset({"dev-1"}))
    assert named.applies_to("dev-1", "temperature-sensor-v2")
    assert not named.applies_to("dev-2", "temperature-sensor-v2")
    assert not a_rule(enabled=False).applies_to("dev-1", "temperature-sensor-v2")
    assert not a_rule(deleted_at_ms=1).applies_to("dev-1", "temperature-sensor-v2")


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_always_is_always_active() -> None:
    assert Schedule().active_at(at("2025-11-16T03:00:00"))


def test_business_hours_are_weekdays_nine_to_five_in_the_schedules_zone() -> None:
    paris = Schedule(ScheduleType.BUSINESS_HOURS, timezone="Europe/Paris")
    assert paris.active_at(at("2025-11-14T08:00:00"))  # Friday 09:00 in Paris
    assert not paris.active_at(at("2025-11-14T07:59:00"))  # 08:59 in Paris
    assert not paris.active_at(at("2025-11-14T16:00:00"))  # 17:00 in Paris: the end is excluded
    assert not paris.active_at(at("2025-11-15T10:00:00"))  # Saturday


def test_a_custom_window_past_midnight_belongs_to_the_day_it_started() -> None:
    friday_nights = Schedule(ScheduleType.CUSTOM, frozenset({4}), datetime.time(22), datetime.time(6), "UTC")
    assert friday_nights.active_at(at("2025-11-14T23:00:00"))  # Friday 23:00
    assert friday_nights.active_at(at("2025-11-15T05:59:00"))  # Saturday early morning, started Friday
    assert not friday_nights.active_at(at("2025-11-15T06:00:00"))
    assert not friday_nights.active_at(at("2025-11-15T23:00:00"))  # Saturday night
    assert not friday_nights.active_at(at("2025-11-14T05:00:00"))  # Friday early morning started Thursday


def test_a_custom_window_within_a_day() -> None:
    weekend = Schedule(ScheduleType.CUSTOM, frozenset({5, 6}), datetime.time(8), datetime.time(12), "America/New_York")
    assert weekend.active_at(at("2025-11-15T14:00:00"))  # Saturday 09:00 in New York
    assert not weekend.active_at(at("2025-11-15T17:00:00"))  # 12:00 in New York
    assert not weekend.active_at(at("2025-11-14T14:00:00"))  # Friday
