"""A rule from a create request, or a rule changed by an update request: validated, every violation at once.

The device type's metrics are looked up by the caller (the use case) and passed in: None means the type is
unknown, which is itself a violation of `deviceType`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.alerting.domain.commands import CreateRule, UpdateRule
from services.alerting.domain.errors import RuleViolations
from services.alerting.domain.rules import Condition, Rule
from services.alerting.domain.validation import (
    check_metrics,
    parse_actions,
    parse_combine,
    parse_conditions,
    parse_cooldown,
    parse_description,
    parse_device_ids,
    parse_device_type,
    parse_name,
    parse_schedule,
    parse_severity,
)


@dataclass(frozen=True)
class RuleIdentity:
    rule_id: str
    organization_id: str
    now_ms: int


def device_type_of_create(command: CreateRule) -> str:
    return command.device_type.strip()


def device_type_of_update(current: Rule, command: UpdateRule) -> str:
    return command.device_type.strip() if command.device_type is not None else current.device_type


def build_rule(command: CreateRule, identity: RuleIdentity, type_metrics: frozenset[str] | None) -> Rule:
    v = RuleViolations()
    name = parse_name(command.name, v)
    description = parse_description(command.description, v)
    device_type = parse_device_type(command.device_type, v)
    device_ids = parse_device_ids(command.device_ids, v)
    conditions, paths = parse_conditions(command.condition, command.conditions, v)
    combine = parse_combine(command.combine, v)
    severity = parse_severity(command.severity, v)
    notifications, webhooks = parse_actions(command.actions, v)
    cooldown = parse_cooldown(command.cooldown_period, v)
    schedule = parse_schedule(command.schedule, v)
    _check_type(device_type, type_metrics, conditions, paths, v)
    v.raise_if_any()
    return Rule(
        rule_id=identity.rule_id,
        organization_id=identity.organization_id,
        name=name,
        description=description,
        device_type=device_type,
        device_ids=device_ids,
        conditions=conditions,
        combine=combine,
        severity=severity,
        notifications=notifications,
        webhooks=webhooks,
        cooldown_seconds=cooldown,
        schedule=schedule,
        enabled=True if command.enabled is None else command.enabled,
        created_at_ms=identity.now_ms,
        updated_at_ms=identity.now_ms,
    )


def update_rule(current: Rule, command: UpdateRule, now_ms: int, type_metrics: frozenset[str] | None) -> Rule:
    """The fields present in the command replace the rule's; the result is checked as a whole."""
    v = RuleViolations()
    changes: dict[str, object] = {"updated_at_ms": now_ms}
    if command.name is not None:
        changes["name"] = parse_name(command.name, v)
    if command.description is not None:
        changes["description"] = parse_description(command.description, v)
    if command.device_type is not None:
        changes["device_type"] = parse_device_type(command.device_type, v)
    if command.device_ids is not None:
        changes["device_ids"] = parse_device_ids(command.device_ids, v)
    conditions, paths = current.conditions, _paths_of(current.conditions)
    if command.condition is not None or command.conditions:
        conditions, paths = parse_conditions(command.condition, command.conditions, v)
        changes["conditions"] = conditions
    if command.combine is not None:
        changes["combine"] = parse_combine(command.combine, v)
    if command.severity is not None:
        changes["severity"] = parse_severity(command.severity, v)
    if command.actions is not None:
        changes["notifications"], changes["webhooks"] = parse_actions(command.actions, v)
    if command.cooldown_period is not None:
        changes["cooldown_seconds"] = parse_cooldown(command.cooldown_period, v)
    if command.schedule is not None:
        changes["schedule"] = parse_schedule(command.schedule, v)
    if command.enabled is not None:
        changes["enabled"] = command.enabled
    device_type = device_type_of_update(current, command)
    if device_type:
        _check_type(device_type, type_metrics, conditions, paths, v)
    v.raise_if_any()
    return replace(current, **changes)  # type: ignore[arg-type]


def _check_type(
    device_type: str,
    type_metrics: frozenset[str] | None,
    conditions: tuple[Condition, ...],
    paths: tuple[str, ...],
    v: RuleViolations,
) -> None:
    if not device_type:
        return  # already reported as required
    if type_metrics is None:
        v.add("deviceType", f"unknown device type {device_type!r}")
        return
    check_metrics(conditions, paths, type_metrics, device_type, v)


def _paths_of(conditions: tuple[Condition, ...]) -> tuple[str, ...]:
    """Where a stored rule's conditions would be named, had the request sent them again."""
    if len(conditions) == 1:
        return ("condition",)
    return tuple(f"conditions[{i}]" for i in range(len(conditions)))
