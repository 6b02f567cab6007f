"""The evaluator's sweep (no-data alerts, forgetting silent devices) and rule changes."""

from __future__ import annotations

from dataclasses import replace

from services.alerting.domain.evaluation import Evaluator
from services.alerting.domain.rules import Combine, ConditionKind
from tests.unit.alerting.test_evaluation import OTHER, SENSOR, T0, S, condition, feed, rule


def sweep(evaluator: Evaluator, at_s: float) -> list[tuple[str, str, float]]:
    return [(c.rule.rule_id, c.device_id, c.actual_value) for c in evaluator.sweep(T0 + int(at_s * S))]


def test_no_data_fires_when_a_reported_metric_stops_arriving() -> None:
    evaluator = Evaluator([rule(condition(duration=600, kind=ConditionKind.NO_DATA))])
    feed(evaluator, 0, temperature=20)
    feed(evaluator, 0, device=OTHER, humidity=50)
    assert sweep(evaluator, 599) == []
    assert sweep(evaluator, 600) == [("rule-1", "dev-1", 600.0)], "dev-2 never reported temperature"
    assert sweep(evaluator, 700) == [], "quiet while raise_alert is pending"


def test_no_data_candidate_describes_the_silence() -> None:
    evaluator = Evaluator([rule(condition(duration=600, kind=ConditionKind.NO_DATA))])
    feed(evaluator, 0, temperature=20)
    [candidate] = evaluator.sweep(T0 + 650 * S)
    assert (candidate.condition, candidate.actual_value, candidate.threshold) == (
        "no data for temperature in 600 s",
        650.0,
        600.0,
    )


def test_a_reading_ends_the_silence() -> None:
    evaluator = Evaluator([rule(condition(duration=600, kind=ConditionKind.NO_DATA))])
    feed(evaluator, 0, temperature=20)
    feed(evaluator, 500, temperature=20)
    assert sweep(evaluator, 700) == []
    assert sweep(evaluator, 1100) == [("rule-1", "dev-1", 600.0)]


def test_silence_is_measured_on_arrival_not_on_the_devices_clock() -> None:
    evaluator = Evaluator([rule(condition(duration=600, kind=ConditionKind.NO_DATA))])
    feed(evaluator, -3600, arrived_s=0, temperature=20)  # a device whose clock is an hour late
    assert sweep(evaluator, 100) == []


def test_no_data_combined_with_a_threshold() -> None:
    both = rule(
        condition(duration=600, kind=ConditionKind.NO_DATA),
        condition("humidity", ">", 80),
        combine=Combine.ALL,
    )
    evaluator = Evaluator([both], hold_gap_seconds=3600)
    feed(evaluator, 0, temperature=20, humidity=50)
    assert sweep(evaluator, 700) == [], "silent, but humidity is fine"
    [candidate] = feed(evaluator, 800, humidity=90)  # temperature stays silent
    assert candidate.condition == "no data for temperature in 600 s AND humidity > 80"


def test_no_data_and_a_threshold_met_first_fire_at_the_next_sweep() -> None:
    both = rule(condition(duration=600, kind=ConditionKind.NO_DATA), condition("humidity", ">", 80))
    evaluator = Evaluator([both], hold_gap_seconds=3600)
    feed(evaluator, 0, temperature=20)
    assert feed(evaluator, 100, humidity=90) == [], "temperature still arrives"
    assert sweep(evaluator, 599) == []
    assert sweep(evaluator, 600) == [("rule-1", "dev-1", 600.0)], "the first condition's value: the silence"


def test_the_sweep_forgets_devices_silent_for_long() -> None:
    evaluator = Evaluator([rule()], idle_seconds=3600)
    feed(evaluator, 0, temperature=20)
    feed(evaluator, 3000, device=OTHER, temperature=20)
    sweep(evaluator, 3601)
    assert evaluator.device_count == 1


def test_devices_are_kept_as_long_as_a_no_data_rule_may_still_fire() -> None:
    evaluator = Evaluator([rule(condition(duration=7200, kind=ConditionKind.NO_DATA))], idle_seconds=3600)
    feed(evaluator, 0, temperature=20)
    assert sweep(evaluator, 3601) == []
    assert evaluator.device_count == 1
    assert len(sweep(evaluator, 7200)) == 1


def test_a_changed_rule_starts_over() -> None:
    held = rule(condition(duration=300))
    evaluator = Evaluator([held])
    feed(evaluator, 0, temperature=45)
    changed = evaluator.replace_rules([replace(held, name="Renamed", updated_at_ms=T0 + 1)])
    assert changed == {"rule-1"}
    assert feed(evaluator, 300, temperature=45) == [], "the clock restarted at the change"
    assert len(feed(evaluator, 600, temperature=45)) == 1


def test_an_unchanged_rule_keeps_its_state_on_reload() -> None:
    held = rule(condition(duration=300))
    evaluator = Evaluator([held])
    feed(evaluator, 0, temperature=45)
    assert evaluator.replace_rules([replace(held)]) == set()
    assert len(feed(evaluator, 300, temperature=45)) == 1


def test_a_rule_change_forgets_the_open_alert() -> None:
    evaluator = Evaluator([rule()])
    [candidate] = feed(evaluator, 0, temperature=45)
    evaluator.raised(candidate, opened=True, now_ms=T0)
    evaluator.replace_rules([rule(cooldown_seconds=60)])
    assert len(feed(evaluator, 10, temperature=45)) == 1, "raise_alert decides about the open alert now"


def test_a_removed_rule_stops_firing_and_a_new_one_starts() -> None:
    evaluator = Evaluator([rule()])
    evaluator.replace_rules([rule(rule_id="rule-2", conditions=(condition("humidity"),))])
    assert feed(evaluator, 0, temperature=45) == []
    assert [c.rule.rule_id for c in feed(evaluator, 1, humidity=45)] == ["rule-2"]


def test_a_device_that_changes_type_leaves_the_old_types_rules() -> None:
    evaluator = Evaluator([rule(condition(duration=60)), rule(rule_id="air", device_type="air-quality-v1")])
    feed(evaluator, 0, temperature=45)
    moved = replace(SENSOR, device_type="air-quality-v1")
    assert [c.rule.rule_id for c in feed(evaluator, 60, device=moved, temperature=45)] == ["air"]


def test_a_forgotten_device_starts_over() -> None:
    evaluator = Evaluator([rule(condition(duration=60))])
    feed(evaluator, 0, temperature=45)
    evaluator.forget_device("dev-1")
    assert feed(evaluator, 60, temperature=45) == []
