"""Rules indexed by (organization, device type, metric), compiled for the per-reading hot path.

A reading only meets the rules of its organization and device type that use one of its metrics. Devices of
a type usually send the same metrics every time, so the rules for each set of metrics are computed once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from services.alerting.domain.rules import Combine, ConditionKind, Rule

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
    device_ids: frozenset[str]  # empty: every device of the type
    conditions: tuple[CompiledCondition, ...]
    needs_all: bool
    simple: SimpleCondition | None

    @classmethod
    def of(cls, rule: Rule) -> CompiledRule:
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
        return cls(rule, rule.rule_id, rule.device_ids, conditions, rule.combine is Combine.ALL, simple)


class RuleIndex:
    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules: dict[str, Rule] = {}
        self._by_metric: dict[TypeKey, dict[str, list[CompiledRule]]] = {}
        self._no_data: dict[TypeKey, list[CompiledRule]] = {}
        self._memo: dict[tuple[str, str, tuple[str, ...]], list[CompiledRule]] = {}
        for rule in rules:
            if not rule.enabled or rule.deleted or not rule.conditions:
                continue
            self.rules[rule.rule_id] = rule
            compiled = CompiledRule.of(rule)
            key = (rule.organization_id, rule.device_type)
            metrics = self._by_metric.setdefault(key, {})
            for metric in sorted(rule.metrics):
                metrics.setdefault(metric, []).append(compiled)
            if any(c.kind is ConditionKind.NO_DATA for c in rule.conditions):
                self._no_data.setdefault(key, []).append(compiled)
        self._organizations = {organization_id for organization_id, _ in self._by_metric}
        self._longest_no_data_ms = {
            key: max(c[5] for r in rules for c in r.conditions if c[2] is ConditionKind.NO_DATA)
            for key, rules in self._no_data.items()
        }

    def watches(self, organization_id: str) -> bool:
        """Whether any rule watches devices of the organization (else its readings need no device lookup)."""
        return organization_id in self._organizations

    def watches_type(self, organization_id: str, device_type: str) -> bool:
        return (organization_id, device_type) in self._by_metric

    def rules_for(self, organization_id: str, device_type: str, metrics: Collection[str]) -> list[CompiledRule]:
        """The rules of that organization and type using any of `metrics`, each once, in a stable order."""
        key = (organization_id, device_type, tuple(metrics))
        found = self._memo.get(key)
        if found is None:
            by_metric = self._by_metric.get((organization_id, device_type), {})
            unique = {r.rule_id: r for metric in metrics for r in by_metric.get(metric, ())}
            found = list(unique.values())
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
