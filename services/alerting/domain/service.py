"""The alerting use cases (spec §3.2.1–§3.2.8, §4.3, §6.2), each checking the caller's permissions first."""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.alerting.domain.alerts import Alert, AlertCandidate, UserRef
from services.alerting.domain.commands import CreateRule, ListAlerts, ListRules, UpdateRule
from services.alerting.domain.errors import AlertChangedConcurrently, AlertNotFound, RuleNotFound
from services.alerting.domain.listing import MAX_RELATED, parse_alert_query, parse_rule_query
from services.alerting.domain.rule_building import (
    RuleIdentity,
    build_rule,
    device_type_of_create,
    device_type_of_update,
    update_rule,
)
from services.alerting.domain.rules import Rule
from services.alerting.domain.system_alerts import (
    NO_COOLDOWN_SINCE_MS,
    DeploymentHalted,
    SystemCheckFailed,
    deployment_halted_candidate,
    parse_system_check,
    system_check_candidate,
)
from services.alerting.domain.transitions import acknowledge, new_alert, resolve
from services.alerting.domain.validation import parse_text
from services.alerting.ports import AlertingEvents, AlertingStore, DeviceTypeCatalog, RuleChange, UserNames
from services.kernel.caller import Caller, Role
from services.kernel.clock import Clock, SystemClock
from services.kernel.errors import Violations
from services.kernel.ids import new_id
from services.kernel.pagination import Page

# A transition meeting a concurrent one is tried again on the fresh alert (which then usually says 409).
MAX_ATTEMPTS = 3
CLEANUP_BATCH = 500
DELIVERED = "sent"


@dataclass(frozen=True)
class AlertView:
    """One alert as §3.2.2 shows it: with the other open alerts of its rule."""

    alert: Alert
    related: list[Alert]


class AlertingService:
    def __init__(
        self,
        store: AlertingStore,
        device_types: DeviceTypeCatalog,
        users: UserNames,
        events: AlertingEvents,
        clock: Clock | None = None,
    ):
        self._store = store
        self._device_types = device_types
        self._users = users
        self._events = events
        self._clock = clock or SystemClock()

    # Rules (§3.2.5–§3.2.8).

    async def create_rule(self, caller: Caller, command: CreateRule) -> Rule:
        caller.require(Role.ADMIN, "create an alert rule")
        metrics = await self._metrics_of(device_type_of_create(command))
        identity = RuleIdentity(new_id("rule"), caller.organization_id, self._now_ms())
        rule = build_rule(command, identity, metrics)
        await self._store.add_rule(rule)
        await self._events.rule_changed(rule, RuleChange.CREATED, caller.user_id)
        return rule

    async def get_rule(self, caller: Caller, rule_id: str) -> Rule:
        return await self._live_rule(caller, rule_id)

    async def list_rules(self, caller: Caller, command: ListRules) -> Page[Rule]:
        query, page = parse_rule_query(command)
        return await self._store.list_rules(caller.organization_id, query, page)

    async def update_rule(self, caller: Caller, command: UpdateRule) -> Rule:
        caller.require(Role.ADMIN, "update an alert rule")
        current = await self._live_rule(caller, command.rule_id)
        metrics = await self._metrics_of(device_type_of_update(current, command))
        rule = update_rule(current, command, self._now_ms(), metrics)
        await self._store.save_rule(rule)
        await self._events.rule_changed(rule, RuleChange.UPDATED, caller.user_id)
        return rule

    async def delete_rule(self, caller: Caller, rule_id: str) -> Rule:
        """Soft delete: the rule stops firing and leaves the lists; its alerts stay."""
        caller.require(Role.ADMIN, "delete an alert rule")
        current = await self._live_rule(caller, rule_id)
        now_ms = self._now_ms()
        rule = replace(current, deleted_at_ms=now_ms, updated_at_ms=now_ms)
        await self._store.save_rule(rule)
        await self._events.rule_changed(rule, RuleChange.DELETED, caller.user_id)
        return rule

    # Alerts (§3.2.1–§3.2.4).

    async def list_alerts(self, caller: Caller, command: ListAlerts) -> Page[Alert]:
        query, page = parse_alert_query(command)
        return await self._store.list_alerts(caller.organization_id, query, page)

    async def get_alert(self, caller: Caller, alert_id: str) -> AlertView:
        alert = await self._alert(caller, alert_id)
        related = await self._store.open_alerts_of_rule(
            alert.organization_id, alert.rule_id, excluding=alert.alert_id, limit=MAX_RELATED
        )
        return AlertView(alert, related)

    async def acknowledge(self, caller: Caller, alert_id: str, comment: str | None) -> Alert:
        caller.require(Role.OPERATOR, "acknowledge an alert")
        v = Violations()
        text = parse_text(comment, "comment", v)
        v.raise_if_any()
        by = UserRef(caller.user_id, await self._users.name_of(caller))
        for _ in range(MAX_ATTEMPTS):
            alert = await self._alert(caller, alert_id)
            updated = acknowledge(alert, by, text, self._now_ms())
            if await self._store.save_alert(updated, expected_status=alert.status):
                await self._events.acknowledged(updated, caller.user_id)
                return updated
        raise AlertChangedConcurrently(alert_id)

    async def resolve(
        self, caller: Caller, alert_id: str, resolution: str | None, prevention_notes: str | None
    ) -> Alert:
        caller.require(Role.OPERATOR, "resolve an alert")
        v = Violations()
        resolution_text = parse_text(resolution, "resolution", v, required=True)
        notes = parse_text(prevention_notes, "preventionNotes", v)
        v.raise_if_any()
        by = UserRef(caller.user_id, await self._users.name_of(caller))
        for _ in range(MAX_ATTEMPTS):
            alert = await self._alert(caller, alert_id)
            updated = resolve(alert, by, resolution_text, notes, self._now_ms())
            if await self._store.save_alert(updated, expected_status=alert.status):
                await self._events.resolved(updated, caller.user_id)
                return updated
        raise AlertChangedConcurrently(alert_id)

    async def count_active(self, caller: Caller, device_id: str) -> int:
        """Internal (device deletion asks): the RPC is internal_only, so the caller is a service."""
        caller.require(Role.ADMIN, "count a device's active alerts")
        return await self._store.count_open(device_id)

    # The evaluator's entry points (services/alerting/ports.py AlertRaiser) and background work.

    async def raise_alert(self, candidate: AlertCandidate) -> Alert | None:
        alert = new_alert(new_id("alert"), candidate)
        cooldown_since_ms = candidate.at_ms - candidate.rule.cooldown_seconds * 1000
        if not await self._store.add_alert_unless_open_or_cooling(alert, cooldown_since_ms):
            return None
        await self._events.triggered(alert, candidate.rule)
        return alert

    async def raise_deployment_halted(self, halt: DeploymentHalted) -> Alert | None:
        """One alert per halted deployment (domain/system_alerts.py); None when it was raised before.

        No cooldown window: any earlier alert of the deployment's system rule, open or resolved, blocks
        another, so a redelivered or repeated halt never alerts twice.
        """
        candidate = deployment_halted_candidate(halt)
        alert = new_alert(new_id("alert"), candidate)
        if not await self._store.add_alert_unless_open_or_cooling(alert, cooldown_since_ms=0):
            return None
        await self._events.triggered(alert, candidate.rule)
        return alert

    async def raise_system_alert(
        self,
        caller: Caller,
        organization_id: str,
        check: str,
        severity: str,
        message: str,
        actual_value: float = 0.0,
        threshold: float = 0.0,
    ) -> tuple[bool, Alert | None]:
        """A failed platform check (§6.3, the health-check job; internal): one alert per organization and check
        while it is open. (True, the new alert), or (False, the open one) when it was raised before."""
        caller.require(Role.ADMIN, "raise a system alert")
        failed: SystemCheckFailed = parse_system_check(
            organization_id, check, severity, message, actual_value, threshold, self._now_ms()
        )
        candidate = system_check_candidate(failed)
        alert = new_alert(new_id("alert"), candidate)
        if await self._store.add_alert_unless_open_or_cooling(alert, cooldown_since_ms=NO_COOLDOWN_SINCE_MS):
            await self._events.triggered(alert, candidate.rule)
            return True, alert
        open_ones = await self._store.open_alerts_of_rule(
            failed.organization_id, candidate.rule.rule_id, excluding="", limit=1
        )
        return False, open_ones[0] if open_ones else None

    async def rules_for_evaluation(self) -> list[Rule]:
        return await self._store.enabled_rules()

    async def record_delivery(self, alert_id: str, channel: str, status: str) -> None:
        """A notification of the alert went out on `channel` (notification.delivered): show it once."""
        if status == DELIVERED and alert_id and channel:
            await self._store.add_notification_sent(alert_id, channel)

    async def delete_old_resolved(self, max_age_ms: int) -> int:
        """Spec §6.2: resolved alerts older than `max_age_ms` leave the store; how many did."""
        cutoff_ms = self._now_ms() - max_age_ms
        total = 0
        while deleted := await self._store.delete_resolved_before(cutoff_ms, CLEANUP_BATCH):
            total += deleted
            if deleted < CLEANUP_BATCH:
                break
        return total

    # Helpers.

    async def _metrics_of(self, device_type: str) -> frozenset[str] | None:
        return await self._device_types.metrics_of(device_type) if device_type else None

    async def _live_rule(self, caller: Caller, rule_id: str) -> Rule:
        rule = await self._store.get_rule(caller.organization_id, rule_id) if rule_id else None
        if rule is None or rule.deleted:
            raise RuleNotFound(rule_id)
        return rule

    async def _alert(self, caller: Caller, alert_id: str) -> Alert:
        alert = await self._store.get_alert(caller.organization_id, alert_id) if alert_id else None
        if alert is None:
            raise AlertNotFound(alert_id)
        return alert

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)
