"""What telemetry activity and its absence do to a device: lastSeen, lastReading, status and health counters.

Rules (docs/device-health.md): a newer reading moves lastSeen and lastReading, an older one changes neither;
a newer reading brings a registered or offline device online; an online device from which no newer reading
arrived for the heartbeat timeout goes offline; maintenance and deleted devices never change status
automatically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.device.domain.commands import ActivityReport
from services.device.domain.health import HealthPolicy, log_counts, log_status, with_status
from services.device.domain.model import DeviceState, DeviceStatus, Reading
from services.device.domain.validation import Violations, check_number

MAX_ACTIVITIES = 500
# A device that reports fresh data is evidently connected; these statuses follow its activity.
STATUSES_FOLLOWING_ACTIVITY = frozenset({DeviceStatus.REGISTERED, DeviceStatus.OFFLINE})


@dataclass(frozen=True)
class ActivitySummary:
    """Everything one call reports about one device, merged."""

    device_id: str
    # When the newest stored reading was taken; None when only refused readings were counted.
    last_seen: datetime | None
    values: Mapping[str, float]
    accepted: int
    rejected: int


def summarize(reports: Sequence[ActivityReport]) -> dict[str, ActivitySummary]:
    """One summary per device: the newest reading, and the counts of every report added up."""
    problems = Violations()
    if len(reports) > MAX_ACTIVITIES:
        problems.add("activities", f"must have at most {MAX_ACTIVITIES} entries, got {len(reports)}")
    summaries: dict[str, ActivitySummary] = {}
    for index, report in enumerate(reports):
        summary = _checked(report, f"activities[{index}]", problems)
        known = summaries.get(report.device_id)
        summaries[report.device_id] = summary if known is None else _merged(known, summary)
    problems.raise_if_any()
    return summaries


def _checked(report: ActivityReport, prefix: str, problems: Violations) -> ActivitySummary:
    if not report.device_id:
        problems.add(f"{prefix}.deviceId", "is required")
    for name, count in (("acceptedReadings", report.accepted), ("rejectedReadings", report.rejected)):
        if count < 0:
            problems.add(f"{prefix}.{name}", f"must not be negative, got {count}")
    if report.last_seen is None and (report.values or report.accepted > 0):
        problems.add(f"{prefix}.lastSeen", "is required with a reading or accepted readings")
    values: dict[str, float] = {}
    for metric, value in report.values.items():
        number = check_number(value, problems, f"{prefix}.lastReading.{metric}")
        if number is not None:
            values[metric] = number
    return ActivitySummary(report.device_id, report.last_seen, values, max(report.accepted, 0), max(report.rejected, 0))


def _merged(first: ActivitySummary, second: ActivitySummary) -> ActivitySummary:
    newest = first if second.last_seen is None or (first.last_seen and first.last_seen >= second.last_seen) else second
    return replace(newest, accepted=first.accepted + second.accepted, rejected=first.rejected + second.rejected)


def apply_activity(
    device: DeviceState, summary: ActivitySummary, now: datetime, policy: HealthPolicy
) -> DeviceState | None:
    """The device's state after the activity, or None when nothing changes (deleted device, only stale readings).

    Newer data arriving is a sign of life dated by its arrival, not by the reading: a backlog being caught
    up on, or a device uploading what it buffered while disconnected, shows the device reaching us now.
    Built with one `replace`: this runs for every device of every telemetry batch.
    """
    if device.is_deleted:
        return None
    log = device.activity
    if summary.accepted or summary.rejected:
        log = log_counts(log, summary.accepted, summary.rejected, now, policy)
    seen = summary.last_seen
    if seen is None or (device.last_seen is not None and seen <= device.last_seen):
        return None if log is device.activity else replace(device, activity=log)
    status, heartbeat = device.status, device.heartbeat_at
    if status in STATUSES_FOLLOWING_ACTIVITY:
        status = DeviceStatus.ONLINE
        log = log_status(log, status, now, policy)
    if status is DeviceStatus.ONLINE:
        heartbeat = now if heartbeat is None else max(heartbeat, now)
    reading = Reading(dict(summary.values), seen) if summary.values else device.last_reading
    return replace(device, status=status, last_seen=seen, last_reading=reading, heartbeat_at=heartbeat, activity=log)


def silent_since(now: datetime, policy: HealthPolicy) -> datetime:
    """Online devices whose last sign of life is older than this are silent."""
    return now - policy.heartbeat_timeout


def take_offline(device: DeviceState, now: datetime, policy: HealthPolicy) -> DeviceState | None:
    """The device offline from the moment its heartbeat expired; None when it is not (or no longer) silent.

    Dating the change at the expiry, not at the sweep, keeps uptime independent of when the sweep runs.
    """
    if device.status is not DeviceStatus.ONLINE:
        return None
    # A device stored before heartbeats were recorded has its last reading as its last sign of life.
    alive_at = device.heartbeat_at or device.last_seen
    if alive_at is not None and alive_at >= silent_since(now, policy):
        return None
    expired_at = now if alive_at is None else alive_at + policy.heartbeat_timeout
    changes = device.activity.status_changes
    return with_status(device, DeviceStatus.OFFLINE, max(expired_at, changes[-1].at) if changes else expired_at, policy)
