"""Health as docs/device-health.md defines it: uptime from the status log, data quality from hourly counters."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.device.domain.health import Health, HealthPolicy, health_of, hour_of, with_counts, with_status
from services.device.domain.model import ActivityLog, Device, DeviceStatus, ReadingCounts, StatusChange
from tests.unit.device.builders import NOW, make_device

POLICY = HealthPolicy()
ONLINE, OFFLINE, MAINTENANCE = DeviceStatus.ONLINE, DeviceStatus.OFFLINE, DeviceStatus.MAINTENANCE


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def device_with(
    changes: list[tuple[float, DeviceStatus]],
    created_hours_ago: float = 48,
    reading_counts: tuple[ReadingCounts, ...] = (),
    **overrides: Any,
) -> Device:
    """A device with status changes `hours ago → status`, seen recently so that it has health."""
    log = tuple(StatusChange(NOW - hours(ago), status) for ago, status in changes)
    status = log[-1].status if log else ONLINE
    device = make_device(
        **{"created_at": NOW - hours(created_hours_ago), "status": status, "last_seen": NOW} | overrides
    )
    return replace(device, activity=ActivityLog(log, reading_counts))


def uptime(device: Device) -> float:
    health = health_of(device, NOW, POLICY)
    assert health is not None
    return health.uptime


def test_no_health_before_any_activity() -> None:
    assert health_of(make_device(), NOW, POLICY) is None
    assert health_of(make_device(status=ONLINE), NOW, POLICY) is None, "set online by hand, never heard from"


def test_uptime_is_the_online_share_of_the_counted_time_in_the_window() -> None:
    # Before the first logged change (registered) nothing counts: 10 h online, 6 h offline, 4 h online.
    device = device_with([(20, ONLINE), (10, OFFLINE), (4, ONLINE)])
    assert uptime(device) == 70.0


def test_the_last_change_before_the_window_gives_the_status_it_starts_in() -> None:
    assert uptime(device_with([(30, ONLINE), (6, OFFLINE)])) == 75.0


def test_time_before_registration_does_not_count() -> None:
    assert uptime(device_with([(2, ONLINE), (1, OFFLINE)], created_hours_ago=2)) == 50.0


def test_maintenance_is_left_out_of_uptime() -> None:
    assert uptime(device_with([(24, ONLINE), (12, MAINTENANCE), (6, OFFLINE)])) == 66.6


@pytest.mark.parametrize(
    ("status", "expected"),
    [(MAINTENANCE, 100.0), (ONLINE, 100.0), (DeviceStatus.REGISTERED, 0.0)],
)
def test_without_counted_time_only_unplanned_downtime_speaks_against_a_device(
    status: DeviceStatus, expected: float
) -> None:
    device = device_with([(0, status)], reading_counts=(ReadingCounts(hour_of(NOW), 0, 1),), last_seen=None)
    assert uptime(device) == expected


def test_a_device_stored_before_the_log_existed_has_had_its_status_since_creation() -> None:
    assert uptime(device_with([], created_hours_ago=3)) == 100.0
    assert uptime(replace(device_with([], created_hours_ago=3), status=OFFLINE)) == 0.0


def test_percentages_are_rounded_down_so_that_100_means_perfect() -> None:
    window_seconds = POLICY.window.total_seconds()
    nearly = device_with([(48, ONLINE), (window_seconds * 0.0004 / 3600, OFFLINE)])  # 99.96 % online
    assert uptime(nearly) == 99.9
    assert uptime(device_with([(48, ONLINE)])) == 100.0


def counts(*entries: tuple[float, int, int]) -> tuple[ReadingCounts, ...]:
    return tuple(ReadingCounts(hour_of(NOW - hours(ago)), accepted, rejected) for ago, accepted, rejected in entries)


def test_data_quality_counts_the_hours_overlapping_the_window() -> None:
    # NOW is on the hour, so the window's first hour starts exactly 24 h ago; 25 h ago is outside.
    device = device_with([(30, ONLINE)], reading_counts=counts((25, 0, 500), (24, 90, 10), (0, 95, 5)))
    health = health_of(device, NOW, POLICY)
    assert health == Health(uptime=100.0, data_quality=92.5)


def test_no_reading_in_the_window_means_nothing_was_refused() -> None:
    device = device_with([(30, ONLINE), (26, OFFLINE)], reading_counts=counts((40, 0, 9)))
    assert health_of(device, NOW, POLICY) == Health(uptime=0.0, data_quality=100.0)


def test_counters_accumulate_per_hour_and_forget_hours_outside_the_window() -> None:
    device = make_device()
    for at, accepted, rejected in [(NOW - hours(30), 5, 5), (NOW, 3, 1), (NOW + timedelta(minutes=59), 2, 0)]:
        device = with_counts(device, accepted, rejected, at, POLICY)
    assert device.activity.reading_counts == (ReadingCounts(NOW, 5, 1),)
    device = with_counts(device, 1, 0, NOW + hours(1), POLICY)
    assert [c.hour for c in device.activity.reading_counts] == [NOW, NOW + hours(1)]


def test_the_status_log_keeps_the_window_and_the_change_before_it() -> None:
    device = make_device()
    for ago, status in [(40, ONLINE), (30, OFFLINE), (20, ONLINE), (1, OFFLINE)]:
        device = with_status(device, status, NOW - hours(ago), POLICY)
    device = with_status(device, ONLINE, NOW, POLICY)
    assert [(NOW - c.at, c.status) for c in device.activity.status_changes] == [
        (hours(30), OFFLINE),
        (hours(20), ONLINE),
        (hours(1), OFFLINE),
        (hours(0), ONLINE),
    ]


def test_a_flapping_device_keeps_only_its_newest_changes() -> None:
    policy = HealthPolicy(max_status_changes=4)
    device = make_device()
    for minute in range(10):
        device = with_status(device, ONLINE if minute % 2 else OFFLINE, NOW + timedelta(minutes=minute), policy)
    assert [c.at.minute for c in device.activity.status_changes] == [6, 7, 8, 9]


def test_going_online_is_a_sign_of_life_and_the_same_status_is_no_change() -> None:
    device = with_status(make_device(), ONLINE, NOW, POLICY)
    assert device.heartbeat_at == NOW
    assert with_status(device, ONLINE, NOW + hours(1), POLICY) is device
