"""Rules indexed by (organization, device type, metric), compiled for the per-reading hot path.

A reading only meets the rules of its organization and device type that use one of its metrics. Devices of
a type usually send the same metrics every time, so the rules for each set of metrics are computed once.

Most rules are one threshold condition with an ordering operator (`temperature > 40`), and most readings meet
none of them. Such a rule has nothing to do for a device unless its condition holds now or it remembers
something of the device (a streak, a pending or open alert: a watch). So those rules are not scanned: per
metric and operator they stand on a ladder sorted by threshold, and the ones a value meets are a prefix or a
suffix of it, found by bisection. A reading then costs a few bisections plus the rules it meets or that watch
its device, instead of a step per rule (99 rules that never fire cost ≈ 1.2 µs each before).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from services.alerting.domain.rules import Combine, ConditionKind, Operator, Rule

TypeKey = tuple[str, str]  # (organization id, device type)
# (position, metric, kind, compare, threshold, duration in ms): a condition as the hot path reads it.
CompiledCondition = tuple[int, str, ConditionKind, Callable[[float, float], bool], float, int]
MEMO_LIMIT = 4096  # distinct metric sets remembered per index (a flood of odd readings must not grow it)


# (metric, compare, threshold) of a rule with one threshold condition, the most common kind: while it does not
# hold for a device and held for none of the device's earlier readings, the rule has nothing to remember of it.
SimpleCondition = tuple[str, Callable[[float, float], bool], float]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    rule_id: str
    position: int  # in the index: rules to check come in this order
    device_ids: frozenset[str]  # empty: every device of the type
    conditions: tuple[CompiledCondition, ...]
    needs_all: bool
    simple: SimpleCondition | None
    ordering: Operator | None  # the simple condition's operator when it is >, >=, < or <= (a ladder's rule)

    @classmethod
    def of(cls, rule: Rule, position: int = 0) -> CompiledRule:
        conditions = tuple(
            (i, c.metric, c.kind, c.operator.compare, c.threshold, c.duration_seconds * 1000)
            for i, c in enumerate(rule.conditions)
        )
        only = rule.conditions[0] if len(rule.conditions) == 1 else None
        simple = (
            (only.metric, only.operator.compare, only.threshold)
            if only is not None and only.kind is ConditionKind.THRESHOLD
            else None
        )
        ordering = only.operator if simple is not None and only is not None and only.operator in _LADDERS else None
        needs_all = rule.combine is Combine.ALL
        return cls(rule, rule.rule_id, position, rule.device_ids, conditions, needs_all, simple, ordering)


class Ladder:
    """The rules `metric <operator> threshold` of one metric and operator, by threshold: those a value meets
    are a prefix (> and >=: thresholds below the value) or a suffix (< and <=: thresholds above it)."""

    __slots__ = ("_cut", "_prefix", "rules", "thresholds")

    def __init__(self, operator: Operator, rules: list[CompiledRule]) -> None:
        self.rules = sorted(rules, key=lambda r: r.rule.conditions[0].threshold)
        self.thresholds = [r.rule.conditions[0].threshold for r in self.rules]
        self._prefix = operator in (Operator.GT, Operator.GE)
        # > : thresholds < v, bisect_left; >= : thresholds <= v, bisect_right;
        # < : thresholds > v, from bisect_right; <= : thresholds >= v, from bisect_left.
        self._cut = bisect_left if operator in (Operator.GT, Operator.LE) else bisect_right

    def met_by(self, value: float) -> list[CompiledRule]:
        if value != value:  # NaN meets no threshold (and would confuse bisection)
            return []
        cut = self._cut(self.thresholds, value)
        return self.rules[:cut] if self._prefix else self.rules[cut:]


_LADDERS = (Operator.GT, Operator.GE, Operator.LT, Operator.LE)


class RuleIndex:
    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules: dict[str, Rule] = {}
        self._types: set[TypeKey] = set()  # that any rule watches
        self._scanned: dict[TypeKey, dict[str, list[CompiledRule]]] = {}  # the rules on no ladder
        self._ladders: dict[TypeKey, dict[str, list[Ladder]]] = {}
        self._laddered: dict[TypeKey, dict[str, CompiledRule]] = {}  # by rule id
        self._no_data: dict[TypeKey, list[CompiledRule]] = {}
        self._memo: dict[tuple[str, str, tuple[str, ...]], list[CompiledRule]] = {}
        rungs: dict[tuple[TypeKey, str, Operator], list[CompiledRule]] = {}
        for rule in rules:
            if not rule.enabled or rule.deleted or not rule.conditions:
                continue
            self.rules[rule.rule_id] = rule
            compiled = CompiledRule.of(rule, len(self.rules))
            key = (rule.organization_id, rule.device_type)
            self._types.add(key)
            scanned = self._scanned.setdefault(key, {})
            if compiled.ordering is None:
                for metric in sorted(rule.metrics):
                    scanned.setdefault(metric, []).append(compiled)
            if compiled.ordering is not None and compiled.simple is not None:
                rungs.setdefault((key, compiled.simple[0], compiled.ordering), []).append(compiled)
                self._laddered.setdefault(key, {})[rule.rule_id] = compiled
            if any(c.kind is ConditionKind.NO_DATA for c in rule.conditions):
                self._no_data.setdefault(key, []).append(compiled)
        for (key, metric, operator), laddered in rungs.items():
            self._ladders.setdefault(key, {}).setdefault(metric, []).append(Ladder(operator, laddered))
        self._organizations = {organization_id for organization_id, _ in self._types}
        self._longest_no_data_ms = {
            key: max(c[5] for r in rules for c in r.conditions if c[2] is ConditionKind.NO_DATA)
            for key, rules in self._no_data.items()
        }

    def watches(self, organization_id: str) -> bool:
        """Whether any rule watches devices of the organization (else its readings need no device lookup)."""
        return organization_id in self._organizations

    def watches_type(self, organization_id: str, device_type: str) -> bool:
        return (organization_id, device_type) in self._types

    def rules_to_check(
        self, organization_id: str, device_type: str, fresh: Mapping[str, float], watched: Collection[str]
    ) -> list[CompiledRule]:
        """What a reading with these fresh values must be checked against, for a device whose watches are
        `watched` (rule ids), in index order: of the rules_for the values, every rule on no ladder, and of
        the ladders' rules those whose condition holds or that watch the device. The others would change
        nothing (see the module docstring)."""
        scanned = self._scanned_for(organization_id, device_type, tuple(fresh))
        key = (organization_id, device_type)
        ladders = self._ladders.get(key)
        if ladders is None:
            return scanned
        extra: dict[str, CompiledRule] = {}
        for metric, value in fresh.items():
            for ladder in ladders.get(metric, ()):
                for rule in ladder.met_by(value):
                    extra[rule.rule_id] = rule
        laddered = self._laddered[key]
        for rule_id in watched:
            watching = laddered.get(rule_id)
            if watching is not None and watching.simple is not None and watching.simple[0] in fresh:
                extra[rule_id] = watching
        if not extra:
            return scanned
        return sorted((*scanned, *extra.values()), key=_position)

    def _scanned_for(self, organization_id: str, device_type: str, metrics: tuple[str, ...]) -> list[CompiledRule]:
        key = (organization_id, device_type, metrics)
        found = self._memo.get(key)
        if found is None:
            by_metric = self._scanned.get((organization_id, device_type), {})
            unique = {r.rule_id: r for metric in metrics for r in by_metric.get(metric, ())}
            found = sorted(unique.values(), key=_position)
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = found
        return found

    def no_data_rules(self, organization_id: str, device_type: str) -> list[CompiledRule]:
        return self._no_data.get((organization_id, device_type), [])

    def longest_no_data_ms(self, organization_id: str, device_type: str) -> int:
        return self._longest_no_data_ms.get((organization_id, device_type), 0)

    def changed_since(self, older: RuleIndex) -> set[str]:
        """Ids of rules added, removed or edited between `older` and this index (their state starts over)."""
        ids = self.rules.keys() | older.rules.keys()
        return {rule_id for rule_id in ids if self.rules.get(rule_id) != older.rules.get(rule_id)}


def _position(rule: CompiledRule) -> int:
    return rule.position
