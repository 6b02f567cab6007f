"""When each job runs next under `iotmon up`: daily at a time, weekly on a day, monthly on a day, or every N
seconds. Pure functions of "now" (UTC), so the scheduler's arithmetic is tested without waiting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def _time_of_day(text: str) -> tuple[int, int]:
    hours, minutes = (int(part) for part in text.split(":"))
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"not a time of day: {text!r}")
    return hours, minutes


@dataclass(frozen=True)
class Daily:
    at: str  # "HH:MM" UTC

    def next_after(self, now: datetime) -> datetime:
        hours, minutes = _time_of_day(self.at)
        candidate = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        return candidate if candidate > now else candidate + timedelta(days=1)


@dataclass(frozen=True)
class Weekly:
    weekday: int  # 0 = Monday
    at: str

    def next_after(self, now: datetime) -> datetime:
        hours, minutes = _time_of_day(self.at)
        days_ahead = (self.weekday - now.weekday()) % 7
        candidate = (now + timedelta(days=days_ahead)).replace(hour=hours, minute=minutes, second=0, microsecond=0)
        return candidate if candidate > now else candidate + timedelta(days=7)


@dataclass(frozen=True)
class Monthly:
    day: int  # 1..28: every month has it
    at: str

    def next_after(self, now: datetime) -> datetime:
        hours, minutes = _time_of_day(self.at)
        candidate = now.replace(day=self.day, hour=hours, minute=minutes, second=0, microsecond=0)
        if candidate > now:
            return candidate
        year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
        return candidate.replace(year=year, month=month)


@dataclass(frozen=True)
class Every:
    seconds: float

    def next_after(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.seconds)


Schedule = Daily | Weekly | Monthly | Every


def utc_now() -> datetime:
    return datetime.now(UTC)
