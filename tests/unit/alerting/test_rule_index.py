"""RuleIndex.rules_to_check: the ladders of one-condition threshold rules give exactly what scanning every
rule would keep — the rules on a fresh metric that are not ladder rules, or whose condition holds, or that
watch the device — in the index's order."""

from __future__ import annotations

import math
import random

import pytest

from services.alerting.domain.evaluation.index import RuleIndex
from services.alerting.domain.rules import Combine, Condition, ConditionKind, Operator, Rule
from tests.unit.alerting.builders import a_rule

METRICS = ("temperature", "humidity", "co2")
THRESHOLDS = (-5.0, 0.0, 10.0, 10.0, 20.0, 40.0)  # 10 twice: ties on a ladder
LADDER_OPERATORS = (Operator.GT, Operator.GE, Operator.LT, Operator.LE)


def random_condition(rng: random.Random) -> Condition:
    kind = rng.choice((ConditionKind.THRESHOLD,) * 6 + (ConditionKind.RATE, ConditionKind.NO_DATA))
    duration = rng.choice((0, 0, 60))
    return Condition(rng.choice(METRICS), rng.choice(list(Operator)), rng.choice(THRESHOLDS), duration, kind)


def random_rules(rng: random.Random, count: int) -> list[Rule]:
    rules = []
    for i in range(count):
        conditions = tuple(random_condition(rng) for _ in range(rng.choice((1, 1, 1, 2))))
        rules.append(
            a_rule(
                rule_id=f"rule-{i:03d}",
                organization_id=rng.choice(("org-1", "org-1", "org-2")),
                device_type=rng.choice(("sensor", "sensor", "meter")),
                conditions=conditions,
                combine=rng.choice((Combine.ALL, Combine.ANY)),
                enabled=rng.random() > 0.1,
            )
        )
    return rules


def holds(rule: Rule, fresh: dict[str, float]) -> bool:
    (condition,) = rule.conditions
    value = fresh.get(condition.metric)
    return value is not None and condition.operator.compare(value, condition.threshold)


def on_a_ladder(rule: Rule) -> bool:
    return (
        len(rule.conditions) == 1
        and rule.conditions[0].kind is ConditionKind.THRESHOLD
        and rule.conditions[0].operator in LADDER_OPERATORS
    )


def by_scanning(rules: list[Rule], org: str, device_type: str, fresh: dict[str, float], watched: set[str]) -> list[str]:
    """What the evaluator would check if it looked at every rule: the reference."""
    kept = []
    for rule in rules:
        if not rule.enabled or (rule.organization_id, rule.device_type) != (org, device_type):
            continue
        if not rule.metrics & fresh.keys():
            continue
        if on_a_ladder(rule) and rule.rule_id not in watched and not holds(rule, fresh):
            continue
        kept.append(rule.rule_id)
    return kept


@pytest.mark.parametrize("seed", range(40))
def test_the_ladders_keep_exactly_what_scanning_every_rule_would(seed: int) -> None:
    rng = random.Random(seed)
    rules = random_rules(rng, rng.randrange(1, 60))
    index = RuleIndex(rules)
    values = (*THRESHOLDS, -100.0, 5.0, 15.0, 100.0, math.nan)
    for _ in range(200):
        org, device_type = rng.choice(("org-1", "org-2")), rng.choice(("sensor", "meter"))
        fresh = {metric: rng.choice(values) for metric in rng.sample(METRICS, rng.randrange(1, 4))}
        watched = {rule.rule_id for rule in rules if rng.random() < 0.1}
        checked = [r.rule_id for r in index.rules_to_check(org, device_type, fresh, watched)]
        assert checked == by_scanning(rules, org, device_type, fresh, watched), (fresh, watched)


def test_a_value_on_the_threshold_meets_only_the_inclusive_operators() -> None:
    rules = [
        a_rule(rule_id=operator.name, device_type="sensor", conditions=(Condition("temperature", operator, 40.0),))
        for operator in Operator
    ]
    index = RuleIndex(rules)
    checked = index.rules_to_check("org-1", "sensor", {"temperature": 40.0}, set())
    assert [r.rule_id for r in checked] == ["GE", "LE", "EQ", "NE"]  # == and != are scanned, not laddered
    assert [r.rule_id for r in index.rules_to_check("org-1", "sensor", {"temperature": 41.0}, set())] == [
        "GT",
        "GE",
        "EQ",
        "NE",
    ]


def test_a_watched_ladder_rule_is_checked_while_its_condition_no_longer_holds() -> None:
    rule = a_rule(rule_id="hot", device_type="sensor", conditions=(Condition("temperature", Operator.GT, 40.0, 60),))
    index = RuleIndex([rule])
    assert index.rules_to_check("org-1", "sensor", {"temperature": 20.0}, set()) == []
    assert [r.rule_id for r in index.rules_to_check("org-1", "sensor", {"temperature": 20.0}, {"hot"})] == ["hot"]
    assert index.rules_to_check("org-1", "sensor", {"humidity": 20.0}, {"hot"}) == []  # not its metric
