"""An AlertingStore in memory: for tests and demos; forgets everything on restart."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from services.alerting.domain.alerts import Alert, AlertStatus
from services.alerting.domain.listing import AlertFilter, RuleFilter
from services.alerting.domain.rules import Rule
from services.kernel.pagination import Page, PageRequest


def newest_first(alerts: list[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (a.triggered_at_ms, a.alert_id), reverse=True)


class InMemoryAlertingStore:
    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}
        self._alerts: dict[str, Alert] = {}

    async def add_rule(self, rule: Rule) -> None:
        self._rules[rule.rule_id] = rule

    async def get_rule(self, organization_id: str, rule_id: str) -> Rule | None:
        rule = self._rules.get(rule_id)
        return rule if rule is not None and rule.organization_id == organization_id else None

    async def save_rule(self, rule: Rule) -> None:
        self._rules[rule.rule_id] = rule

    async def list_rules(self, organization_id: str, query: RuleFilter, page: PageRequest) -> Page[Rule]:
        found = [
            r
            for r in self._rules.values()
            if r.organization_id == organization_id and not r.deleted and query.matches(r)
        ]
        found.sort(key=lambda r: (r.created_at_ms, r.rule_id), reverse=True)
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def enabled_rules(self) -> list[Rule]:
        return [r for r in self._rules.values() if r.enabled and not r.deleted]

    async def add_alert_unless_open_or_cooling(self, alert: Alert, cooldown_since_ms: int) -> bool:
        for other in self._alerts.values():
            same = other.rule_id == alert.rule_id and other.device_id == alert.device_id
            if same and (other.is_open or other.triggered_at_ms >= cooldown_since_ms):
                return False
        self._alerts[alert.alert_id] = alert
        return True

    async def get_alert(self, organization_id: str, alert_id: str) -> Alert | None:
        alert = self._alerts.get(alert_id)
        return alert if alert is not None and alert.organization_id == organization_id else None

    async def save_alert(self, alert: Alert, *, expected_status: AlertStatus) -> bool:
        stored = self._alerts.get(alert.alert_id)
        if stored is None or stored.status is not expected_status:
            return False
        self._alerts[alert.alert_id] = replace(alert, notifications_sent=stored.notifications_sent)
        return True

    async def list_alerts(self, organization_id: str, query: AlertFilter, page: PageRequest) -> Page[Alert]:
        found = newest_first(
            [a for a in self._alerts.values() if a.organization_id == organization_id and query.matches(a)]
        )
        return Page(found[page.offset : page.offset + page.page_size], page, len(found))

    async def open_alerts_of_rule(
        self, organization_id: str, rule_id: str, *, excluding: str, limit: int
    ) -> list[Alert]:
        found = [
            a
            for a in self._alerts.values()
            if a.organization_id == organization_id and a.rule_id == rule_id and a.is_open and a.alert_id != excluding
        ]
        return newest_first(found)[:limit]

    async def count_open(self, device_id: str) -> int:
        return sum(1 for a in self._alerts.values() if a.device_id == device_id and a.is_open)

    async def add_notification_sent(self, alert_id: str, channel: str) -> None:
        alert = self._alerts.get(alert_id)
        if alert is not None and channel not in alert.notifications_sent:
            self._alerts[alert_id] = replace(alert, notifications_sent=(*alert.notifications_sent, channel))

    async def delete_resolved_before(self, cutoff_ms: int, limit: int) -> int:
        old = [
            a.alert_id
            for a in self._alerts.values()
            if a.status is AlertStatus.RESOLVED and a.resolved_at_ms is not None and a.resolved_at_ms < cutoff_ms
        ][:limit]
        for alert_id in old:
            del self._alerts[alert_id]
        return len(old)

    async def resolved_before(self, cutoff_ms: int, limit: int) -> list[Alert]:
        old = [
            a
            for a in self._alerts.values()
            if a.status is AlertStatus.RESOLVED and a.resolved_at_ms is not None and a.resolved_at_ms < cutoff_ms
        ]
        old.sort(key=lambda a: (a.resolved_at_ms or 0, a.alert_id))
        return old[:limit]

    async def delete_resolved(self, alert_ids: Collection[str]) -> int:
        gone = [i for i in set(alert_ids) if i in self._alerts and self._alerts[i].status is AlertStatus.RESOLVED]
        for alert_id in gone:
            del self._alerts[alert_id]
        return len(gone)

    async def close(self) -> None:
        return None
