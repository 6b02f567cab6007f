"""Device health (spec §3.1.2 "health"): uptime and data quality over a sliding window.

The definitions are in docs/device-health.md; this module is their only implementation. Everything is
computed from the device's own ActivityLog, kept small by pruning it to the window on every write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from services.device.domain.model import ActivityLog, Device, DeviceState, DeviceStatus, ReadingCounts, StatusChange

# A whole device (users' changes) or its state alone (telemetry, heartbeat): both carry status and log.
D = TypeVar("D", Device, DeviceState)

# Statuses whose time counts towards uptime; the others (registered, maintenance, deleted) are left out.
COUNTED_STATUSES = frozenset({DeviceStatus.ONLINE, DeviceStatus.OFFLINE})
# Without time in a counted status, a device online or in planned maintenance has had no unplanned downtime.
NO_DOWNTIME_STATUSES = frozenset({DeviceStatus.ONLINE, DeviceStatus.MAINTENANCE})


@dataclass(frozen=True)
class HealthPolicy:
    # An online device not heard from for this long is taken offline by the heartbeat sweep.
    heartbeat_timeout: timedelta = timedelta(seconds=300)
    # Uptime and data quality look back this far.
    window: timedelta = timedelta(hours=24)
    # A device flapping more often than this within the window keeps only its newest status changes.
    max_status_changes: int = 128


@dataclass(frozen=True)
class Health:
    """Percentages, rounded down to one decimal so that 100.0 means perfect."""

    uptime: float
    data_quality: float


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def with_status(device: D, status: DeviceStatus, at: datetime, policy: HealthPolicy) -> D:
    """The device in `status` from `at` on, with the change logged; going online counts as a sign of life."""
    if status is device.status:
        return device
    heartbeat = device.heartbeat_at
    if status is DeviceStatus.ONLINE:
        heartbeat = at if heartbeat is None else max(heartbeat, at)
    activity = log_status(device.activity, status, at, policy)
    return replace(device, status=status, activity=activity, heartbeat_at=heartbeat)


def with_counts(device: Device, accepted: int, rejected: int, now: datetime, policy: HealthPolicy) -> Device:
    return replace(device, activity=log_counts(device.activity, accepted, rejected, now, policy))


def log_status(log: ActivityLog, status: DeviceStatus, at: datetime, policy: HealthPolicy) -> ActivityLog:
    changes = (*log.status_changes, StatusChange(at, status))
    return ActivityLog(_recent_changes(changes, at, policy), log.reading_counts)


def log_counts(log: ActivityLog, accepted: int, rejected: int, now: datetime, policy: HealthPolicy) -> ActivityLog:
    """Add readings processed now to the current hour's counters; counters older than the window go."""
    hour = hour_of(now)
    first_hour = hour_of(now - policy.window)
    kept = [c for c in log.reading_counts if c.hour >= first_hour and c.hour != hour]
    current = next((c for c in log.reading_counts if c.hour == hour), ReadingCounts(hour, 0, 0))
    kept.append(ReadingCounts(hour, current.accepted + accepted, current.rejected + rejected))
    kept.sort(key=lambda c: c.hour)
    return ActivityLog(log.status_changes, tuple(kept))


def health_of(device: Device, now: datetime, policy: HealthPolicy) -> Health | None:
    """None until the device has shown any activity (a reading stored or refused)."""
    if device.last_seen is None and not device.activity.reading_counts:
        return None
    start = max(now - policy.window, device.created_at)
    return Health(uptime=_uptime(device, start, now), data_quality=_data_quality(device.activity, now, policy))


def _uptime(device: Device, start: datetime, now: datetime) -> float:
    online = offline = 0.0
    for begin, end, status in _status_periods(device, now):
        seconds = (min(end, now) - max(begin, start)).total_seconds()
        if seconds <= 0:
            continue
        if status is DeviceStatus.ONLINE:
            online += seconds
        elif status is DeviceStatus.OFFLINE:
            offline += seconds
    if online + offline == 0:
        return 100.0 if device.status in NO_DOWNTIME_STATUSES else 0.0
    return _percent(online / (online + offline))


def _status_periods(device: Device, now: datetime) -> list[tuple[datetime, datetime, DeviceStatus]]:
    """(from, to, status) periods; before the first logged change the status is unknown and not counted.

    A device without any logged change (stored before the log existed) has had its status since creation.
    """
    changes = device.activity.status_changes
    if not changes:
        return [(device.created_at, now, device.status)]
    ends = [c.at for c in changes[1:]] + [now]
    return [(c.at, end, c.status) for c, end in zip(changes, ends, strict=True)]


def _data_quality(activity: ActivityLog, now: datetime, policy: HealthPolicy) -> float:
    first_hour = hour_of(now - policy.window)
    counted = [c for c in activity.reading_counts if c.hour >= first_hour]
    accepted = sum(c.accepted for c in counted)
    total = accepted + sum(c.rejected for c in counted)
    # No reading in the window means none was refused: nothing speaks against the data.
    return 100.0 if total == 0 else _percent(accepted / total)


def _recent_changes(changes: tuple[StatusChange, ...], now: datetime, policy: HealthPolicy) -> tuple[StatusChange, ...]:
    """The changes within the window plus the last one before it (the status the window starts in)."""
    start = now - policy.window
    first = 0
    for index, change in enumerate(changes):
        if change.at <= start:
            first = index
    return changes[first:][-policy.max_status_changes :]


def _percent(fraction: float) -> float:
    # Rounded down (with a little slack for binary fractions) so that 99.96 % shows 99.9, never 100.0.
    return math.floor(fraction * 1000 + 1e-9) / 10
