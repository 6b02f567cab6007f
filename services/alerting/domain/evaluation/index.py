"""Rules indexed by (organization, device type, metric): a reading only meets the rules that can use it."""

from __future__ import annotations

from collections.abc import Iterable

from services.alerting.domain.rules import ConditionKind, Rule

TypeKey = tuple[str, str]  # (organization id, device type)


class RuleIndex:
    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules: dict[str, Rule] = {}
        self._by_metric: dict[TypeKey, dict[str, list[Rule]]] = {}
        self._no_data: dict[TypeKey, list[Rule]] = {}
        for rule in rules:
            if not rule.enabled or rule.deleted or not rule.conditions:
                continue
            self.rules[rule.rule_id] = rule
            key = (rule.organization_id, rule.device_type)
            metrics = self._by_metric.setdefault(key, {})
            for metric in rule.metrics:
                metrics.setdefault(metric, []).append(rule)
            if any(c.kind is ConditionKind.NO_DATA for c in rule.conditions):
                self._no_data.setdefault(key, []).append(rule)
        self._organizations = {organization_id for organization_id, _ in self._by_metric}
        self._longest_no_data_ms = {
            key: max(c.duration_seconds for r in rules for c in r.conditions if c.kind is ConditionKind.NO_DATA) * 1000
            for key, rules in self._no_data.items()
        }

    def watches(self, organization_id: str) -> bool:
        """Whether any rule watches devices of the organization (else its readings need no device lookup)."""
        return organization_id in self._organizations

    def metrics_of(self, organization_id: str, device_type: str) -> dict[str, list[Rule]] | None:
        """metric → the rules using it, for devices of that organization and type (None: no rule at all)."""
        return self._by_metric.get((organization_id, device_type))

    def no_data_rules(self, organization_id: str, device_type: str) -> list[Rule]:
        return self._no_data.get((organization_id, device_type), [])

    def longest_no_data_ms(self, organization_id: str, device_type: str) -> int:
        return self._longest_no_data_ms.get((organization_id, device_type), 0)

    def changed_since(self, older: RuleIndex) -> set[str]:
        """Ids of rules added, removed or edited between `older` and this index (their state starts over)."""
        ids = self.rules.keys() | older.rules.keys()
        return {rule_id for rule_id in ids if self.rules.get(rule_id) != older.rules.get(rule_id)}
