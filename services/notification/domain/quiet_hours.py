"""Quiet hours: a daily window, in the user's time zone, without non-critical notifications."""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.notification.domain.model import QuietHours

_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_time_of_day(value: str) -> time | None:
    match = _TIME_OF_DAY.match(value)
    return time(int(match.group(1)), int(match.group(2))) if match else None


def zone(name: str) -> ZoneInfo:
    """The IANA zone; an unknown name (identity validates, so only stale data) falls back to UTC."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def in_quiet_hours(quiet: QuietHours, at: datetime) -> bool:
    """Whether the instant `at` (timezone-aware) falls in the window, read on the user's wall clock.

    The window includes its start and excludes its end. A start after the end wraps past midnight
    (22:00–08:00 covers 23:30 and 07:59, not 08:00). Equal start and end is an empty window, and so is an
    unreadable time: a broken setting must not silence every notification.
    """
    if not quiet.enabled:
        return False
    start, end = parse_time_of_day(quiet.start), parse_time_of_day(quiet.end)
    if start is None or end is None or start == end:
        return False
    local = at.astimezone(zone(quiet.timezone)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end
