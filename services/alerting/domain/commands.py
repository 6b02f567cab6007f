"""What callers ask the alerting use cases, as they sent it: strings and numbers not validated yet.

`None` means "not given" (an update leaves that field as it is; a create applies the default).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConditionInput:
    metric: str
    operator: str
    threshold: float
    duration: int = 0
    kind: str = ""


@dataclass(frozen=True)
class ScheduleInput:
    type: str = ""
    days: tuple[str, ...] = ()
    start_time: str | None = None
    end_time: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class ActionsInput:
    notifications: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateRule:
    name: str
    device_type: str
    severity: str
    description: str = ""
    device_ids: tuple[str, ...] = ()
    condition: ConditionInput | None = None
    conditions: tuple[ConditionInput, ...] = ()
    combine: str | None = None
    actions: ActionsInput | None = None
    cooldown_period: int | None = None
    schedule: ScheduleInput | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class UpdateRule:
    rule_id: str
    name: str | None = None
    description: str | None = None
    device_type: str | None = None
    # A list given (even empty: every device of the type) replaces the rule's devices.
    device_ids: tuple[object, ...] | None = None
    condition: ConditionInput | None = None
    conditions: tuple[ConditionInput, ...] = ()
    combine: str | None = None
    severity: str | None = None
    actions: ActionsInput | None = None
    cooldown_period: int | None = None
    schedule: ScheduleInput | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class ListRules:
    device_type: str | None = None
    enabled: bool | None = None
    severity: str | None = None
    page: int | None = None
    page_size: int | None = None


@dataclass(frozen=True)
class ListAlerts:
    status: str | None = None
    severity: str | None = None
    device_id: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    page: int | None = None
    page_size: int | None = None
