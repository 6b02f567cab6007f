"""Alert rules (spec §3.2.5–§3.2.8): what to watch, when, and whom to tell.

Plain immutable data shared by the API (B1) and the evaluator (B2). The spec's single `condition` is a rule
with `conditions=(that one,)` and `combine=ALL`; several conditions and the `rate`/`noData` kinds go beyond it.
"""

from __future__ import annotations

import datetime
import operator as op
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo


class Operator(StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="

    def compare(self, value: float, threshold: float) -> bool:
        return _COMPARISONS[self](value, threshold)


_COMPARISONS: dict[Operator, Callable[[float, float], bool]] = {
    Operator.GT: op.gt,
    Operator.GE: op.ge,
    Operator.LT: op.lt,
    Operator.LE: op.le,
    Operator.EQ: op.eq,
    Operator.NE: op.ne,
}


class ConditionKind(StrEnum):
    THRESHOLD = "threshold"  # the spec's: the reading compared with the threshold
    RATE = "rate"  # the change per minute between consecutive readings, compared with the threshold
    NO_DATA = "noData"  # no reading of the metric for `duration_seconds`; operator and threshold unused


def format_number(value: float) -> str:
    """40.0 → "40", 40.5 → "40.5": thresholds read as people wrote them."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Condition:
    metric: str
    operator: Operator
    threshold: float
    duration_seconds: int = 0
    kind: ConditionKind = ConditionKind.THRESHOLD

    def text(self) -> str:
        threshold = format_number(self.threshold)
        if self.kind is ConditionKind.RATE:
            return f"rate({self.metric}) {self.operator.value} {threshold}/min"
        if self.kind is ConditionKind.NO_DATA:
            return f"no data for {self.metric} in {self.duration_seconds} s"
        return f"{self.metric} {self.operator.value} {threshold}"


class Combine(StrEnum):
    ALL = "all"
    ANY = "any"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class ScheduleType(StrEnum):
    ALWAYS = "always"
    BUSINESS_HOURS = "business-hours"
    CUSTOM = "custom"


BUSINESS_DAYS = frozenset(range(5))  # Monday … Friday
BUSINESS_START = datetime.time(9, 0)
BUSINESS_END = datetime.time(17, 0)


@dataclass(frozen=True)
class Schedule:
    """When a rule may fire. Days are 0=Monday … 6=Sunday, times are local to `timezone`."""

    type: ScheduleType = ScheduleType.ALWAYS
    days: frozenset[int] = frozenset()
    start: datetime.time | None = None
    end: datetime.time | None = None
    timezone: str = "UTC"

    def active_at(self, at: datetime.datetime) -> bool:
        """Whether the rule may fire at `at` (an aware datetime)."""
        if self.type is ScheduleType.ALWAYS:
            return True
        local = at.astimezone(ZoneInfo(self.timezone))
        if self.type is ScheduleType.BUSINESS_HOURS:
            return _in_window(local, BUSINESS_DAYS, BUSINESS_START, BUSINESS_END)
        days = self.days or frozenset(range(7))
        return _in_window(local, days, self.start or datetime.time(0), self.end or datetime.time(0))


def _in_window(local: datetime.datetime, days: frozenset[int], start: datetime.time, end: datetime.time) -> bool:
    now = local.time().replace(tzinfo=None)
    if start == end:  # a whole day
        return local.weekday() in days
    if start < end:
        return local.weekday() in days and start <= now < end
    # The window passes midnight: the late part belongs to today, the early part to the day it started.
    if now >= start:
        return local.weekday() in days
    return now < end and (local.weekday() - 1) % 7 in days


@dataclass(frozen=True)
class Rule:
    rule_id: str
    organization_id: str
    name: str
    description: str
    device_type: str
    device_ids: frozenset[str]
    conditions: tuple[Condition, ...]
    combine: Combine
    severity: Severity
    notifications: tuple[str, ...]
    webhooks: tuple[str, ...]
    cooldown_seconds: int
    schedule: Schedule
    enabled: bool
    created_at_ms: int
    updated_at_ms: int
    deleted_at_ms: int | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at_ms is not None

    def applies_to(self, device_id: str, device_type: str) -> bool:
        """Whether this rule watches that device: the type matches and the rule names it or no device at all."""
        if not self.enabled or self.deleted or device_type != self.device_type:
            return False
        return not self.device_ids or device_id in self.device_ids

    def condition_text(self) -> str:
        joiner = " AND " if self.combine is Combine.ALL else " OR "
        return joiner.join(c.text() for c in self.conditions)

    @property
    def metrics(self) -> frozenset[str]:
        return frozenset(c.metric for c in self.conditions)
