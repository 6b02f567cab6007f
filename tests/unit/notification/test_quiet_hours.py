from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notification.domain.model import QuietHours
from services.notification.domain.quiet_hours import in_quiet_hours
from tests.unit.notification.support import NIGHT_IN_NEW_YORK


def utc(hour: int, minute: int = 0, day: int = 15) -> datetime:
    return datetime(2025, 11, day, hour, minute, tzinfo=UTC)


# New York is UTC-5 in November: 22:00 local is 03:00 UTC the next day, 08:00 local is 13:00 UTC.
@pytest.mark.parametrize(
    ("at", "quiet"),
    [
        (utc(2, 59), False),  # 21:59 local
        (utc(3, 0), True),  # 22:00 local: the start is inside
        (utc(4, 30), True),  # 23:30 local
        (utc(5, 0), True),  # 00:00 local: past midnight
        (utc(12, 59), True),  # 07:59 local
        (utc(13, 0), False),  # 08:00 local: the end is outside
        (utc(18, 0), False),  # 13:00 local
    ],
)
def test_a_window_wrapping_midnight_is_read_on_the_users_wall_clock(at: datetime, quiet: bool) -> None:
    assert in_quiet_hours(NIGHT_IN_NEW_YORK, at) is quiet


def test_the_same_instant_is_quiet_in_one_zone_and_not_in_another() -> None:
    at = utc(22, 30)  # 17:30 in New York, 07:30 next morning in Tokyo
    tokyo = QuietHours(enabled=True, start="22:00", end="08:00", timezone="Asia/Tokyo")
    assert in_quiet_hours(tokyo, at)
    assert not in_quiet_hours(NIGHT_IN_NEW_YORK, at)


def test_daylight_saving_time_moves_the_window_in_utc() -> None:
    # 22:00 in New York is 02:00 UTC in summer (UTC-4) and 03:00 UTC in winter (UTC-5).
    summer, winter = datetime(2025, 7, 1, 2, 30, tzinfo=UTC), datetime(2025, 12, 1, 2, 30, tzinfo=UTC)
    assert in_quiet_hours(NIGHT_IN_NEW_YORK, summer)
    assert not in_quiet_hours(NIGHT_IN_NEW_YORK, winter)


def test_a_daytime_window_does_not_wrap() -> None:
    lunch = QuietHours(enabled=True, start="12:00", end="13:30", timezone="Europe/Paris")
    noon_paris = datetime(2025, 11, 15, 11, 0, tzinfo=UTC)
    assert in_quiet_hours(lunch, noon_paris)
    assert in_quiet_hours(lunch, noon_paris + timedelta(minutes=89))
    assert not in_quiet_hours(lunch, noon_paris + timedelta(minutes=90))
    assert not in_quiet_hours(lunch, noon_paris - timedelta(minutes=1))


@pytest.mark.parametrize(
    "quiet",
    [
        QuietHours(enabled=False, start="00:00", end="23:59"),
        QuietHours(enabled=True, start="09:00", end="09:00"),
        QuietHours(enabled=True, start="25:00", end="08:00"),
    ],
    ids=["disabled", "empty-window", "unreadable-time"],
)
def test_disabled_empty_or_broken_windows_never_silence(quiet: QuietHours) -> None:
    assert not any(in_quiet_hours(quiet, utc(h)) for h in range(24))


def test_an_unknown_time_zone_falls_back_to_utc() -> None:
    quiet = QuietHours(enabled=True, start="22:00", end="08:00", timezone="Mars/Olympus_Mons")
    assert in_quiet_hours(quiet, utc(23))
    assert not in_quiet_hours(quiet, utc(12))
