"""A user's preferences (§3.3.1) and how a partial update merges into them.

A patch carries only the fields the client sent; absent fields keep their current value. Only the
patched fields are validated: stored values were valid when they were written.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field, replace
from functools import lru_cache

from services.kernel.errors import Violations

THEMES = ("light", "dark")
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# BCP 47 in the shape clients send: a primary language plus optional subtags (en, pt-BR, zh-Hant).
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True)
class NotificationChannels:
    email: bool = True
    push: bool = True
    sms: bool = False


@dataclass(frozen=True)
class QuietHours:
    enabled: bool = False
    start: str = "22:00"
    end: str = "07:00"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Preferences:
    """The defaults are what a new user gets."""

    notifications: NotificationChannels = field(default_factory=NotificationChannels)
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    theme: str = "light"
    language: str = "en"


@dataclass(frozen=True)
class NotificationChannelsPatch:
    email: bool | None = None
    push: bool | None = None
    sms: bool | None = None


@dataclass(frozen=True)
class QuietHoursPatch:
    enabled: bool | None = None
    start: str | None = None
    end: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class PreferencesPatch:
    notifications: NotificationChannelsPatch | None = None
    quiet_hours: QuietHoursPatch | None = None
    theme: str | None = None
    language: str | None = None


def merge_preferences(
    current: Preferences, patch: PreferencesPatch, violations: Violations, prefix: str = "preferences"
) -> Preferences:
    """`current` with the patched fields replaced; invalid fields are added to `violations`."""
    merged = current
    if patch.notifications is not None:
        merged = replace(merged, notifications=_merge_channels(current.notifications, patch.notifications))
    if patch.quiet_hours is not None:
        quiet = _merge_quiet_hours(current.quiet_hours, patch.quiet_hours, violations, f"{prefix}.quietHours")
        merged = replace(merged, quiet_hours=quiet)
    if patch.theme is not None:
        if patch.theme not in THEMES:
            violations.add(f"{prefix}.theme", f"must be one of {', '.join(THEMES)}, got {patch.theme!r}")
        merged = replace(merged, theme=patch.theme)
    if patch.language is not None:
        if not _LANGUAGE_TAG.match(patch.language):
            violations.add(f"{prefix}.language", f"must be a language tag such as en or pt-BR, got {patch.language!r}")
        merged = replace(merged, language=patch.language)
    return merged


def _merge_channels(current: NotificationChannels, patch: NotificationChannelsPatch) -> NotificationChannels:
    return NotificationChannels(
        email=current.email if patch.email is None else patch.email,
        push=current.push if patch.push is None else patch.push,
        sms=current.sms if patch.sms is None else patch.sms,
    )


def _merge_quiet_hours(current: QuietHours, patch: QuietHoursPatch, violations: Violations, prefix: str) -> QuietHours:
    for name, value in (("start", patch.start), ("end", patch.end)):
        if value is not None and not _TIME_OF_DAY.match(value):
            violations.add(f"{prefix}.{name}", f"must be a time of day as HH:MM (00:00 to 23:59), got {value!r}")
    if patch.timezone is not None and not is_known_timezone(patch.timezone):
        violations.add(
            f"{prefix}.timezone", f"must be an IANA time zone such as America/New_York, got {patch.timezone!r}"
        )
    return QuietHours(
        enabled=current.enabled if patch.enabled is None else patch.enabled,
        start=current.start if patch.start is None else patch.start,
        end=current.end if patch.end is None else patch.end,
        timezone=current.timezone if patch.timezone is None else patch.timezone,
    )


@lru_cache(maxsize=1)
def _known_timezones() -> frozenset[str]:
    # Read once from the tz database (system zoneinfo or the tzdata package); a set lookup afterwards.
    return frozenset(zoneinfo.available_timezones())


def is_known_timezone(name: str) -> bool:
    return name in _known_timezones()
