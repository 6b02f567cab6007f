"""Trends: signed percentages against yesterday, formatted like the spec ("+2.5%", "-15%")."""

from __future__ import annotations

import pytest

from services.analytics.domain.dashboard import Snapshot, StoredNumbers, dashboard, trend


@pytest.mark.parametrize(
    ("now", "yesterday", "expected"),
    [
        (1025, 1000, "+2.5%"),
        (85, 100, "-15%"),
        (100, 100, "0%"),
        (3, 1, "+200%"),
        (2, 3, "-33.3%"),
        (1, 3, "-66.7%"),
        (100_001, 100_000, "0%"),  # +0.001 % rounds to zero: no sign on zero
        (0, 4, "-100%"),
        (5, 0, "+100%"),
        (0, 0, "0%"),
        (7, None, "0%"),
    ],
)
def test_trend_formatting(now: int, yesterday: int | None, expected: str) -> None:
    assert trend(now, yesterday) == expected


def test_dashboard_counts_registered_devices_as_offline_and_sums_to_the_total() -> None:
    counters = {
        "device:online": 1450,
        "device:offline": 40,
        "device:registered": 5,
        "device:maintenance": 5,
        "alert:critical": 2,
        "alert:warning": 8,
        "alert:info": 2,
    }
    numbers = StoredNumbers(counters, 12_500_000, 385_000_000, Snapshot("2025-11-14", 1415, 14), 1)

    stats = dashboard(numbers)

    assert (stats.devices.total, stats.devices.online, stats.devices.offline, stats.devices.maintenance) == (
        1500,
        1450,
        45,
        5,
    )
    assert (stats.alerts.active, stats.alerts.critical, stats.alerts.warning, stats.alerts.info) == (12, 2, 8, 2)
    assert (stats.volume_today, stats.volume_month) == (12_500_000, 385_000_000)
    assert stats.devices_online_trend == "+2.5%"
    assert stats.active_alerts_trend == "-14.3%"
