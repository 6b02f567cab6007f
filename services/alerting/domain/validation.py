"""Rule validation: every invalid field is collected and named by its JSON path (`condition.operator`,
`schedule.timezone`, `cooldownPeriod`), so that one 400 lists all of them."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.alerting.domain.commands import ActionsInput, ConditionInput, ScheduleInput
from services.alerting.domain.rules import Combine, Condition, ConditionKind, Operator, Schedule, ScheduleType, Severity
from services.kernel.errors import Violations

MAX_NAME = 200
MAX_DESCRIPTION = 2_000
MAX_TEXT = 2_000
MAX_CONDITIONS = 10
MAX_DEVICE_IDS = 1_000
MAX_WEBHOOKS = 10
MAX_DURATION_SECONDS = 7 * 24 * 3600
MAX_COOLDOWN_SECONDS = 30 * 24 * 3600
CHANNELS = ("email", "push", "sms")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _allowed(values: Iterable[str]) -> str:
    return ", ".join(values)


def parse_name(value: str, v: Violations) -> str:
    name = value.strip()
    if not name:
        v.add("name", "is required")
    elif len(name) > MAX_NAME:
        v.add("name", f"must be at most {MAX_NAME} characters")
    return name


def parse_description(value: str, v: Violations) -> str:
    if len(value) > MAX_DESCRIPTION:
        v.add("description", f"must be at most {MAX_DESCRIPTION} characters")
    return value


def parse_device_type(value: str, v: Violations) -> str:
    device_type = value.strip()
    if not device_type:
        v.add("deviceType", "is required")
    return device_type


def parse_device_ids(values: Sequence[object], v: Violations) -> frozenset[str]:
    if len(values) > MAX_DEVICE_IDS:
        v.add("deviceIds", f"at most {MAX_DEVICE_IDS} devices, got {len(values)}")
        return frozenset()
    ids: set[str] = set()
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            v.add(f"deviceIds[{index}]", "must be a non-empty device id")
        else:
            ids.add(value.strip())
    return frozenset(ids)


def parse_severity(value: str, v: Violations) -> Severity:
    try:
        return Severity(value.strip().lower())
    except ValueError:
        v.add("severity", f"must be one of {_allowed(Severity)}, got {value!r}")
        return Severity.INFO


def parse_combine(value: str | None, v: Violations) -> Combine:
    if value is None or not value.strip():
        return Combine.ALL
    try:
        return Combine(value.strip().lower())
    except ValueError:
        v.add("combine", f"must be all or any, got {value!r}")
        return Combine.ALL


def parse_cooldown(value: int | None, v: Violations) -> int:
    if value is None:
        return 0
    if value < 0:
        v.add("cooldownPeriod", f"must be 0 or more seconds, got {value}")
    elif value > MAX_COOLDOWN_SECONDS:
        v.add("cooldownPeriod", f"must be at most {MAX_COOLDOWN_SECONDS} seconds (30 days), got {value}")
    return max(value, 0)


def parse_conditions(
    single: ConditionInput | None, many: Sequence[ConditionInput], v: Violations
) -> tuple[tuple[Condition, ...], tuple[str, ...]]:
    """The rule's conditions, and the JSON path each came from (for metric checks that come later)."""
    if single is not None and many:
        v.add("conditions", "give either condition or conditions, not both")
        return (), ()
    if single is not None:
        inputs, paths = [single], ["condition"]
    else:
        inputs, paths = list(many), [f"conditions[{i}]" for i in range(len(many))]
    if not inputs:
        v.add("condition", "is required")
    elif len(inputs) > MAX_CONDITIONS:
        v.add("conditions", f"at most {MAX_CONDITIONS} conditions, got {len(inputs)}")
    conditions = tuple(parse_condition(c, p, v) for c, p in zip(inputs, paths, strict=True))
    return conditions, tuple(paths)


def parse_condition(value: ConditionInput, path: str, v: Violations) -> Condition:
    kind = ConditionKind.THRESHOLD
    if value.kind.strip():
        try:
            kind = ConditionKind(value.kind.strip())
        except ValueError:
            v.add(f"{path}.kind", f"must be one of {_allowed(ConditionKind)}, got {value.kind!r}")
    metric = value.metric.strip()
    if not metric:
        v.add(f"{path}.metric", "is required")
    operator = Operator.GT
    if kind is not ConditionKind.NO_DATA or value.operator:
        try:
            operator = Operator(value.operator.strip())
        except ValueError:
            v.add(f"{path}.operator", f"must be one of {_allowed(Operator)}, got {value.operator!r}")
    if not math.isfinite(value.threshold):
        v.add(f"{path}.threshold", "must be a finite number")
    if value.duration < 0:
        v.add(f"{path}.duration", f"must be 0 or more seconds, got {value.duration}")
    elif value.duration > MAX_DURATION_SECONDS:
        v.add(f"{path}.duration", f"must be at most {MAX_DURATION_SECONDS} seconds (7 days), got {value.duration}")
    elif kind is ConditionKind.NO_DATA and value.duration == 0:
        v.add(f"{path}.duration", "a noData condition needs the silence in seconds (more than 0)")
    return Condition(metric, operator, float(value.threshold), max(value.duration, 0), kind)


ANOMALY_PREFIX = "anomaly."


def check_metrics(
    conditions: Sequence[Condition], paths: Sequence[str], known: frozenset[str], device_type: str, v: Violations
) -> None:
    """Each condition's metric must be one the device type reports, or `anomaly.<metric>` of one: the
    evaluator reads telemetry's AnomalyDetected events as that metric with the anomaly score as its value."""
    for condition, path in zip(conditions, paths, strict=True):
        if condition.metric and condition.metric.removeprefix(ANOMALY_PREFIX) not in known:
            v.add(
                f"{path}.metric",
                f"{condition.metric!r} is not a metric of device type {device_type!r}; "
                f"known: {_allowed(sorted(known))}",
            )


def parse_actions(value: ActionsInput | None, v: Violations) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if value is None:
        return (), ()
    channels: list[str] = []
    for index, channel in enumerate(value.notifications):
        normalized = channel.strip().lower()
        if normalized not in CHANNELS:
            v.add(f"actions.notifications[{index}]", f"must be one of {_allowed(CHANNELS)}, got {channel!r}")
        elif normalized not in channels:
            channels.append(normalized)
    if len(value.webhooks) > MAX_WEBHOOKS:
        v.add("actions.webhooks", f"at most {MAX_WEBHOOKS} webhooks, got {len(value.webhooks)}")
    for index, url in enumerate(value.webhooks):
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            v.add(f"actions.webhooks[{index}].url", f"must be an http(s) URL, got {url!r}")
    return tuple(channels), tuple(url.strip() for url in value.webhooks)


def parse_schedule(value: ScheduleInput | None, v: Violations) -> Schedule:
    if value is None:
        return Schedule()
    schedule_type = ScheduleType.ALWAYS
    if value.type.strip():
        try:
            schedule_type = ScheduleType(value.type.strip().lower())
        except ValueError:
            v.add("schedule.type", f"must be one of {_allowed(ScheduleType)}, got {value.type!r}")
    timezone = _timezone(value.timezone, v)
    if schedule_type is not ScheduleType.CUSTOM:
        for name, given in (("days", value.days), ("startTime", value.start_time), ("endTime", value.end_time)):
            if given:
                v.add(f"schedule.{name}", f"only a custom schedule takes {name}; this one is {schedule_type.value}")
        return Schedule(schedule_type, timezone=timezone)
    if not value.days:
        v.add("schedule.days", f"a custom schedule needs its days ({_allowed(DAY_NAMES)})")
    days = frozenset(d for d in (_day(name, i, v) for i, name in enumerate(value.days)) if d is not None)
    start = _time(value.start_time, "schedule.startTime", v)
    end = _time(value.end_time, "schedule.endTime", v)
    return Schedule(ScheduleType.CUSTOM, days, start, end, timezone)


def _timezone(value: str | None, v: Violations) -> str:
    if value is None or not value.strip():
        return "UTC"
    name = value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        v.add("schedule.timezone", f"unknown IANA time zone {value!r} (e.g. Europe/Paris, UTC)")
        return "UTC"
    return name


def _day(value: str, index: int, v: Violations) -> int | None:
    name = value.strip().lower()
    if name in DAY_NAMES:
        return DAY_NAMES.index(name)
    if name in FULL_DAY_NAMES:
        return FULL_DAY_NAMES.index(name)
    v.add(f"schedule.days[{index}]", f"must be one of {_allowed(DAY_NAMES)}, got {value!r}")
    return None


def _time(value: str | None, path: str, v: Violations) -> datetime.time | None:
    if value is None or not value.strip():
        v.add(path, "a custom schedule needs it, as HH:MM")
        return None
    try:
        hours, minutes = value.strip().split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError(value)
        return datetime.time(int(hours), int(minutes))
    except ValueError:
        v.add(path, f"must be a time of day as HH:MM, got {value!r}")
        return None


def day_name(day: int) -> str:
    return DAY_NAMES[day]


def time_text(value: datetime.time) -> str:
    return value.strftime("%H:%M")


def parse_text(value: str | None, field_name: str, v: Violations, *, required: bool = False) -> str | None:
    """A free-text field (comment, resolution): trimmed, bounded, possibly required."""
    text = (value or "").strip()
    if required and not text:
        v.add(field_name, "is required")
    if len(text) > MAX_TEXT:
        v.add(field_name, f"must be at most {MAX_TEXT} characters")
    return text or None
