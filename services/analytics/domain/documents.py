"""A report's content, whatever its format: title, parameters, summary figures, one table and one chart.

Builders turn the peers' data into a ReportDocument (pure); adapters render it as PDF, CSV or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.analytics.domain.requests import ReportSpec

BYTES_PER_DATAPOINT = 16  # as the dashboard counts them (docs/analytics.md)
TITLES = {
    "device-uptime": "Device uptime",
    "alert-summary": "Alert summary",
    "data-volume": "Data volume",
}
SEVERITIES = ("critical", "warning", "info")
ALERT_STATUSES = ("triggered", "acknowledged", "resolved")


@dataclass(frozen=True)
class Chart:
    title: str
    categories: list[str]
    # One list of values per series, as long as `categories`.
    series: dict[str, list[float]]
    value_label: str = ""


@dataclass(frozen=True)
class ReportDocument:
    report_type: str
    title: str
    parameters: list[tuple[str, str]]
    summary: list[tuple[str, str]]
    columns: list[str]
    rows: list[list[Any]]
    chart: Chart | None = None
    generated_at_ms: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeviceUptime:
    """A device as the uptime report sees it: hours of the period with stored data, out of the hours counted
    (from the later of the period's start and the device's registration to the earlier of its end and now)."""

    device_id: str
    name: str
    status: str
    hours_with_data: int
    hours_counted: int
    uptime_24h: float | None  # the device service's health figure, for comparison


@dataclass(frozen=True)
class AlertCount:
    day: str
    device_id: str
    device_name: str
    severity: str
    status: str
    count: int
    resolution_seconds: float


def device_uptime_document(spec: ReportSpec, devices: list[DeviceUptime], now_ms: int) -> ReportDocument:
    rows: list[list[Any]] = []
    availabilities: list[float | None] = []
    for d in devices:
        availability = round(100 * d.hours_with_data / d.hours_counted, 1) if d.hours_counted else None
        availabilities.append(availability)
        uptime = "" if d.uptime_24h is None else round(d.uptime_24h, 1)
        rows.append([d.device_id, d.name, d.status, d.hours_with_data, d.hours_counted, availability, uptime])
    counted = [a for a in availabilities if a is not None]
    average = f"{sum(counted) / len(counted):.1f}%" if counted else "n/a"
    return ReportDocument(
        spec.report_type,
        TITLES[spec.report_type],
        _parameters(spec),
        [("Devices reported", str(len(devices))), ("Average availability", average)],
        ["deviceId", "name", "status", "hoursWithData", "hoursCounted", "availabilityPercent", "uptime24hPercent"],
        rows,
        Chart(
            "Availability by device (%)",
            [d.name or d.device_id for d in devices],
            {"availability": [a or 0.0 for a in availabilities]},
            "%",
        ),
        now_ms,
        ["Availability: share of the period's hours in which the device delivered at least one stored reading."],
    )


def alert_summary_document(spec: ReportSpec, counts: list[AlertCount], now_ms: int) -> ReportDocument:
    days = [d.isoformat() for d in _days(spec.start_day, spec.end_day)]
    per_day = {day: dict.fromkeys(SEVERITIES, 0) for day in days}
    by_status = dict.fromkeys(ALERT_STATUSES, 0)
    resolved_seconds, resolved = 0.0, 0
    for c in counts:
        if c.day in per_day and c.severity in per_day[c.day]:
            per_day[c.day][c.severity] += c.count
        by_status[c.status] = by_status.get(c.status, 0) + c.count
        if c.status == "resolved":
            resolved += c.count
            resolved_seconds += c.resolution_seconds
    total = sum(by_status.values())
    mttr = _duration(resolved_seconds / resolved) if resolved else "n/a"
    rows: list[list[Any]] = [[day, *(per_day[day][s] for s in SEVERITIES), sum(per_day[day].values())] for day in days]
    summary = [("Alerts", str(total))] + [(s.capitalize(), str(n)) for s, n in by_status.items()]
    summary.append(("Mean time to resolve", mttr))
    chart = Chart("Alerts triggered per day", days, {s: [float(per_day[d][s]) for d in days] for s in SEVERITIES})
    return ReportDocument(
        spec.report_type,
        TITLES[spec.report_type],
        _parameters(spec),
        summary,
        ["day", *SEVERITIES, "total"],
        rows,
        chart,
        now_ms,
    )


def data_volume_document(spec: ReportSpec, datapoints_by_day: dict[str, int], now_ms: int) -> ReportDocument:
    days = [d.isoformat() for d in _days(spec.start_day, spec.end_day)]
    counts = [datapoints_by_day.get(day, 0) for day in days]
    rows: list[list[Any]] = [[day, n, n * BYTES_PER_DATAPOINT] for day, n in zip(days, counts, strict=True)]
    total = sum(counts)
    return ReportDocument(
        spec.report_type,
        TITLES[spec.report_type],
        _parameters(spec),
        [("Datapoints", f"{total:,}"), ("Bytes", f"{total * BYTES_PER_DATAPOINT:,}")],
        ["day", "datapoints", "bytes"],
        rows,
        Chart("Bytes stored per day", days, {"bytes": [float(n * BYTES_PER_DATAPOINT) for n in counts]}, "bytes"),
        now_ms,
        [f"Bytes: {BYTES_PER_DATAPOINT} per stored datapoint (an 8-byte time and an 8-byte value)."],
    )


def hours_counted(spec: ReportSpec, registered_at_ms: int | None, now_ms: int) -> tuple[int, int]:
    """(first hour index, hours) of the period the uptime of a device is measured over."""
    hour = 3_600_000
    start = max(spec.start_ms, registered_at_ms or 0)
    end = min(spec.end_ms, now_ms)
    first = start // hour
    last = -(-end // hour)  # the hour `now` is in counts
    return first, max(0, last - first)


def _parameters(spec: ReportSpec) -> list[tuple[str, str]]:
    parameters = [("Period", f"{spec.start_day.isoformat()} to {spec.end_day.isoformat()} (UTC)")]
    if spec.device_ids:
        parameters.append(("Devices", ", ".join(spec.device_ids)))
    elif spec.report_type != "data-volume":
        parameters.append(("Devices", "all"))
    return parameters


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def generated_at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
