"""How StreamReadings cuts a range into windows the store can answer whole (services/telemetry/domain/exports.py)."""

from __future__ import annotations

import itertools

from services.telemetry.domain.exports import export_windows
from services.telemetry.domain.series import DAY_MS, DailyCount

DAY = 20_000 * DAY_MS


def test_a_small_day_is_one_window_clipped_to_the_range() -> None:
    windows = export_windows(DAY + 1000, DAY + 5000, [DailyCount(DAY, 10)], window_rows=100)
    assert windows == [(DAY + 1000, DAY + 5000)]


def test_a_busy_day_is_cut_into_even_windows_that_cover_it_exactly() -> None:
    windows = export_windows(DAY, DAY + DAY_MS, [DailyCount(DAY, 1000)], window_rows=300)
    assert len(windows) == 4  # 1000 / 300, rounded up
    assert windows[0][0] == DAY
    assert windows[-1][1] == DAY + DAY_MS
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))


def test_empty_days_and_days_outside_the_range_are_skipped() -> None:
    days = [DailyCount(DAY - DAY_MS, 5), DailyCount(DAY, 0), DailyCount(DAY + DAY_MS, 7)]
    windows = export_windows(DAY, DAY + 2 * DAY_MS, days, window_rows=100)
    assert windows == [(DAY + DAY_MS, DAY + 2 * DAY_MS)]


def test_never_more_windows_than_milliseconds() -> None:
    windows = export_windows(DAY, DAY + 3, [DailyCount(DAY, 10_000)], window_rows=1)
    assert windows == [(DAY, DAY + 1), (DAY + 1, DAY + 2), (DAY + 2, DAY + 3)]
