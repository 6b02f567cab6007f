"""The outside things the alerting use cases need, one Protocol each; adapters/ implements them."""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Protocol

from services.alerting.domain.alerts import Alert, AlertCandidate, AlertStatus
from services.alerting.domain.listing import AlertFilter, RuleFilter
from services.alerting.domain.rules import Rule
from services.kernel.caller import Caller
from services.kernel.pagination import Page, PageRequest


class RuleStore(Protocol):
    async def add_rule(self, rule: Rule) -> None: ...

    async def get_rule(self, organization_id: str, rule_id: str) -> Rule | None:
        """The stored rule, soft-deleted or not; None when the organization has no such rule."""
        ...

    async def save_rule(self, rule: Rule) -> None:
        """Replace a stored rule (the last writer wins)."""
        ...

    async def list_rules(self, organization_id: str, query: RuleFilter, page: PageRequest) -> Page[Rule]:
        """The organization's rules that are not deleted and match, newest first."""
        ...

    async def enabled_rules(self) -> list[Rule]:
        """Every enabled, not deleted rule of every organization (the evaluator's cache)."""
        ...


class AlertStore(Protocol):
    async def add_alert_unless_open_or_cooling(self, alert: Alert, cooldown_since_ms: int) -> bool:
        """Store the alert unless, atomically, its rule and device already have an alert that is not resolved
        (de-duplication) or one triggered at or after `cooldown_since_ms` (cooldown). True when stored."""
        ...

    async def get_alert(self, organization_id: str, alert_id: str) -> Alert | None: ...

    async def save_alert(self, alert: Alert, *, expected_status: AlertStatus) -> bool:
        """Write the alert's status, people, comments and notes if its stored status is still
        `expected_status`; False otherwise. notifications_sent is left as stored (its own writer)."""
        ...

    async def list_alerts(self, organization_id: str, query: AlertFilter, page: PageRequest) -> Page[Alert]:
        """Matching alerts, newest triggered first."""
        ...

    async def open_alerts_of_rule(
        self, organization_id: str, rule_id: str, *, excluding: str, limit: int
    ) -> list[Alert]:
        """Alerts of the rule that are not resolved, but `excluding`, newest first."""
        ...

    async def count_open(self, device_id: str) -> int:
        """Alerts of the device (in whichever organization) that are triggered or acknowledged."""
        ...

    async def add_notification_sent(self, alert_id: str, channel: str) -> None:
        """Add the channel to the alert's notifications_sent unless it is there (idempotent; any organization)."""
        ...

    async def delete_resolved_before(self, cutoff_ms: int, limit: int) -> int:
        """Delete at most `limit` alerts resolved before `cutoff_ms`; how many were deleted."""
        ...

    async def resolved_before(self, cutoff_ms: int, limit: int) -> list[Alert]:
        """At most `limit` alerts (of any organization) resolved before `cutoff_ms`, oldest resolution first,
        ties by alert id: what the archiving cleanup (§6.2) writes out before deleting."""
        ...

    async def delete_resolved(self, alert_ids: Collection[str]) -> int:
        """Delete exactly those of `alert_ids` that are resolved (an archived batch); how many were deleted."""
        ...


class AlertingStore(RuleStore, AlertStore, Protocol):
    async def close(self) -> None: ...


class DeviceTypeCatalog(Protocol):
    async def metrics_of(self, device_type: str) -> frozenset[str] | None:
        """The metric names of the device type; None when no such type is known."""
        ...


class UserNames(Protocol):
    async def name_of(self, caller: Caller) -> str:
        """The caller's display name (for acknowledgedBy / resolvedBy), the best one available."""
        ...


class RuleChange(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class AlertingEvents(Protocol):
    """What happened to alerts and rules, told to the rest of the system (routing keys alerting.*)."""

    async def triggered(self, alert: Alert, rule: Rule) -> None: ...

    async def acknowledged(self, alert: Alert, actor_user_id: str) -> None: ...

    async def resolved(self, alert: Alert, actor_user_id: str) -> None: ...

    async def rule_changed(self, rule: Rule, change: RuleChange, actor_user_id: str) -> None: ...


class AlertRaiser(Protocol):
    """What the evaluator (services/alerting/evaluator.py) needs from the alerting service."""

    async def raise_alert(self, candidate: AlertCandidate) -> Alert | None:
        """The stored alert, or None when de-duplicated or inside the rule's cooldown for that device."""
        ...

    async def rules_for_evaluation(self) -> list[Rule]:
        """Every enabled, not deleted rule of every organization."""
        ...
