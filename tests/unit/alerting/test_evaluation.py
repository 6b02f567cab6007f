"""The stream evaluator on readings: durations, AND/OR, rates, schedules, out-of-order readings.

Time is passed explicitly (reading time and arrival time), so nothing here sleeps.
"""

from __future__ import annotations

import datetime

from services.alerting.domain.alerts import AlertCandidate
from services.alerting.domain.evaluation import DeviceRef, Evaluator
from services.alerting.domain.rules import (
    Combine,
    Condition,
    ConditionKind,
    Operator,
    Rule,
    Schedule,
    ScheduleType,
    Severity,
)
from tests.unit.alerting.builders import a_rule

# 2025-11-10 was a Monday; 10:00 UTC.
T0 = int(datetime.datetime(2025, 11, 10, 10, 0, tzinfo=datetime.UTC).timestamp() * 1000)
S = 1000
SENSOR = DeviceRef("dev-1", "org-1", "temperature-sensor-v2", "Boiler room")
OTHER = DeviceRef("dev-2", "org-1", "temperature-sensor-v2", "Roof")


def condition(
    metric: str = "temperature",
    operator: str = ">",
    threshold: float = 40,
    duration: int = 0,
    kind: ConditionKind = ConditionKind.THRESHOLD,
) -> Condition:
    return Condition(metric, Operator(operator), threshold, duration, kind)


def rule(*conditions: Condition, combine: Combine = Combine.ALL, **changes: object) -> Rule:
    """builders.a_rule as the evaluation tests want it: "Hot", critical, a 5-minute cooldown, made at T0."""
    evaluation_rule: dict[str, object] = {
        "rule_id": "rule-1",
        "name": "Hot",
        "description": "",
        "conditions": conditions or (condition(),),
        "combine": combine,
        "severity": Severity.CRITICAL,
        "notifications": ("email",),
        "cooldown_seconds": 300,
        "created_at_ms": T0,
        "updated_at_ms": T0,
    }
    return a_rule(**(evaluation_rule | changes))


def feed(
    evaluator: Evaluator, at_s: float, device: DeviceRef = SENSOR, arrived_s: float | None = None, **values: float
) -> list[AlertCandidate]:
    """One reading taken at T0 + at_s seconds, arriving at once unless arrived_s says otherwise."""
    arrived = at_s if arrived_s is None else arrived_s
    return evaluator.on_reading(device, T0 + int(at_s * S), values, T0 + int(arrived * S))


def test_a_condition_without_duration_fires_on_the_reading() -> None:
    evaluator = Evaluator([rule()])
    assert feed(evaluator, 0, temperature=39) == []
    [candidate] = feed(evaluator, 10, temperature=41.5)
    assert candidate == AlertCandidate(
        rule=rule(),
        device_id="dev-1",
        device_name="Boiler room",
        actual_value=41.5,
        threshold=40,
        condition="temperature > 40",
        at_ms=T0 + 10 * S,
    )


def test_a_duration_fires_once_readings_kept_the_condition_true_that_long() -> None:
    evaluator = Evaluator([rule(condition(duration=300))])
    assert feed(evaluator, 0, temperature=45) == [], "the first true reading starts the clock"
    assert feed(evaluator, 200, temperature=46) == []
    assert feed(evaluator, 299, temperature=47) == []
    [candidate] = feed(evaluator, 300, temperature=48)
    assert candidate.actual_value == 48


def test_a_false_reading_resets_the_duration() -> None:
    evaluator = Evaluator([rule(condition(duration=300))])
    feed(evaluator, 0, temperature=45)
    feed(evaluator, 200, temperature=30)
    feed(evaluator, 250, temperature=45)
    assert feed(evaluator, 400, temperature=45) == [], "held 150 s since the reset, not 400"
    assert len(feed(evaluator, 550, temperature=45)) == 1


def test_each_device_has_its_own_duration() -> None:
    evaluator = Evaluator([rule(condition(duration=60))])
    feed(evaluator, 0, temperature=45)
    feed(evaluator, 50, device=OTHER, temperature=45)
    [fired] = feed(evaluator, 60, temperature=45)
    assert fired.device_id == "dev-1"
    assert feed(evaluator, 61, device=OTHER, temperature=45) == []
    assert [c.device_id for c in feed(evaluator, 110, device=OTHER, temperature=45)] == ["dev-2"]


def test_a_gap_in_readings_longer_than_the_hold_gap_starts_a_new_streak() -> None:
    evaluator = Evaluator([rule(condition(duration=300))], hold_gap_seconds=120)
    feed(evaluator, 0, temperature=45)
    assert feed(evaluator, 400, temperature=45) == [], "nobody saw the 400 s in between"
    assert feed(evaluator, 500, temperature=45) == []
    assert feed(evaluator, 600, temperature=45) == []
    assert len(feed(evaluator, 700, temperature=45)) == 1, "300 s of readings at most 100 s apart"


def test_all_needs_every_condition_and_a_missing_metric_keeps_its_state() -> None:
    hot_and_humid = rule(condition(), condition("humidity", ">", 80), combine=Combine.ALL)
    evaluator = Evaluator([hot_and_humid])
    assert feed(evaluator, 0, temperature=45) == []
    [candidate] = feed(evaluator, 10, humidity=85)
    assert candidate.condition == "temperature > 40 AND humidity > 80"
    assert candidate.actual_value == 45, "the first condition's value"


def test_all_does_not_fire_on_a_half_whose_metric_went_silent() -> None:
    evaluator = Evaluator([rule(condition(), condition("humidity", ">", 80))], hold_gap_seconds=60)
    feed(evaluator, 0, temperature=45)
    assert feed(evaluator, 100, humidity=85) == [], "temperature was last heard 100 s ago"
    assert len(feed(evaluator, 110, temperature=45)) == 1


def test_any_fires_on_one_condition_and_names_it() -> None:
    evaluator = Evaluator([rule(condition(), condition("humidity", ">", 80), combine=Combine.ANY)])
    assert feed(evaluator, 0, temperature=20, humidity=50) == []
    [candidate] = feed(evaluator, 10, humidity=90)
    assert (candidate.condition, candidate.actual_value, candidate.threshold) == ("humidity > 80", 90, 80)


def test_rate_compares_the_change_per_minute_between_consecutive_readings() -> None:
    rising = rule(condition(operator=">", threshold=2, kind=ConditionKind.RATE))
    evaluator = Evaluator([rising])
    assert feed(evaluator, 0, temperature=20) == [], "one reading has no rate"
    assert feed(evaluator, 60, temperature=21.5) == [], "1.5 per minute"
    [candidate] = feed(evaluator, 90, temperature=23)
    assert candidate.actual_value == 3.0, "1.5 in 30 s is 3 per minute"
    assert candidate.condition == "rate(temperature) > 2/min"


def test_rate_with_a_duration() -> None:
    evaluator = Evaluator([rule(condition(threshold=2, duration=60, kind=ConditionKind.RATE))])
    feed(evaluator, 0, temperature=20)
    assert feed(evaluator, 30, temperature=22) == [], "4/min starts the clock"
    assert feed(evaluator, 60, temperature=24) == []
    assert len(feed(evaluator, 90, temperature=26)) == 1


def test_a_reading_older_than_the_newest_is_ignored() -> None:
    evaluator = Evaluator([rule(condition(duration=60))])
    feed(evaluator, 100, temperature=45)
    assert feed(evaluator, 50, arrived_s=101, temperature=30) == [], "older: does not reset the streak"
    assert len(feed(evaluator, 160, temperature=45)) == 1


def test_a_late_reading_does_not_spoil_a_rate() -> None:
    evaluator = Evaluator([rule(condition(threshold=2, kind=ConditionKind.RATE))])
    feed(evaluator, 0, temperature=20)
    feed(evaluator, 60, temperature=21)
    feed(evaluator, 30, arrived_s=61, temperature=10)
    [candidate] = feed(evaluator, 90, temperature=23)
    assert candidate.actual_value == 4.0, "against the reading at 60 s, not the late one"


def test_outside_the_schedule_nothing_fires_but_the_duration_keeps_counting() -> None:
    business = Schedule(ScheduleType.BUSINESS_HOURS)
    evaluator = Evaluator([rule(condition(duration=600), schedule=business)])
    before_nine = -3600 - 600  # Monday 08:50 UTC
    assert feed(evaluator, before_nine, temperature=45) == []
    assert feed(evaluator, -3600 - 1, temperature=45) == [], "held 599 s, and before 09:00"
    [candidate] = feed(evaluator, -3600 + 1, temperature=45)
    assert candidate.condition == "temperature > 40"


def test_outside_the_schedule_a_met_condition_does_not_fire() -> None:
    nights = Schedule(ScheduleType.CUSTOM, frozenset(range(7)), datetime.time(22), datetime.time(6))
    evaluator = Evaluator([rule(schedule=nights)])
    assert feed(evaluator, 0, temperature=45) == [], "10:00 is not in 22:00–06:00"
    assert len(feed(evaluator, 13 * 3600, temperature=45)) == 1, "23:00 is"


def test_rules_of_other_organizations_types_devices_or_disabled_ones_do_not_fire() -> None:
    rules = [
        rule(rule_id="other-org", organization_id="org-2"),
        rule(rule_id="other-type", device_type="air-quality-v1"),
        rule(rule_id="other-device", device_ids=frozenset({"dev-9"})),
        rule(rule_id="disabled", enabled=False),
        rule(rule_id="deleted", deleted_at_ms=T0),
        rule(rule_id="named", device_ids=frozenset({"dev-1"})),
        rule(rule_id="other-metric", conditions=(condition("humidity"),)),
    ]
    evaluator = Evaluator(rules)
    assert [c.rule.rule_id for c in feed(evaluator, 0, temperature=45)] == ["named"]


def test_no_rule_for_the_device_type_keeps_no_state() -> None:
    evaluator = Evaluator([rule(device_type="air-quality-v1")])
    feed(evaluator, 0, temperature=45)
    assert evaluator.device_count == 0


def test_one_condition_rules_remember_a_device_only_while_there_is_something_to_remember() -> None:
    rules = [rule(condition(threshold=40 + i), rule_id=f"rule-{i}") for i in range(50)]
    evaluator = Evaluator([*rules, rule(condition(duration=60), rule_id="held")])
    for second in range(10):
        assert feed(evaluator, second, temperature=30) == []
        assert feed(evaluator, second, OTHER, temperature=35) == []
    assert evaluator.device_count == 2
    assert evaluator.watch_count == 0, "no condition ever held: nothing to keep per rule"

    fired = feed(evaluator, 20, temperature=41)
    assert [c.rule.rule_id for c in fired] == ["rule-0"], "and 'held' starts its streak"
    assert evaluator.watch_count == 2
    assert feed(evaluator, 30, temperature=30) == []
    assert evaluator.watch_count == 1, "the streak ended; rule-0's alert is still being raised"
    assert feed(evaluator, 40, temperature=41) == [], "rule-0 waits for raise_alert; 'held' starts over"
    assert feed(evaluator, 95, temperature=41) == [], "held 55 s since the reset, not 75"
    assert [c.rule.rule_id for c in feed(evaluator, 100, temperature=41)] == ["held"]


def test_an_open_alert_keeps_the_rule_quiet_until_it_is_resolved() -> None:
    evaluator = Evaluator([rule()])
    [candidate] = feed(evaluator, 0, temperature=45)
    assert feed(evaluator, 1, temperature=46) == [], "raise_alert is still running"
    evaluator.raised(candidate, opened=True, now_ms=T0 + 2 * S)
    assert feed(evaluator, 3600, temperature=46) == [], "the alert is open"
    evaluator.alert_resolved("rule-1", "dev-1")
    assert len(feed(evaluator, 3601, temperature=46)) == 1


def test_a_declined_raise_is_retried_after_the_retry_interval() -> None:
    evaluator = Evaluator([rule()], retry_seconds=30)
    [candidate] = feed(evaluator, 0, temperature=45)
    evaluator.raised(candidate, opened=False, now_ms=T0)
    assert feed(evaluator, 29, temperature=45) == [], "cooldown or duplicate: not every reading"
    assert len(feed(evaluator, 30, temperature=45)) == 1


def test_a_failed_raise_is_tried_again_on_the_next_reading() -> None:
    evaluator = Evaluator([rule()])
    [candidate] = feed(evaluator, 0, temperature=45)
    evaluator.raise_failed(candidate)
    assert len(feed(evaluator, 1, temperature=45)) == 1


def test_a_redelivered_reading_fires_again_when_the_raise_failed() -> None:
    evaluator = Evaluator([rule(condition(duration=60))])
    feed(evaluator, 0, temperature=45)
    [candidate] = feed(evaluator, 60, temperature=45)
    evaluator.raise_failed(candidate)
    assert len(feed(evaluator, 60, arrived_s=65, temperature=45)) == 1, "same reading, delivered again"
