"""POST /analytics/reports and POST /analytics/export: what a valid request is, and how long it should take.

Reports (§3.5.3) — `reportType` and its `parameters`:

| type | deviceIds | what it holds |
|---|---|---|
| device-uptime | required, 1-50 | per device: hours with stored data, availability %, status, 24 h health |
| alert-summary | optional, ≤ 50 (all devices) | alerts triggered per day by severity, by status, mean time to resolve |
| data-volume | not accepted (the whole organization) | datapoints and bytes stored per day |

`startDate`/`endDate` are UTC days (YYYY-MM-DD), both included, at most 366 days; `format` pdf, csv or json.
Exports (§3.5.4): 1-500 devices, 0-100 metrics (none: every metric), a half-open time range of at most 400
days, `format` csv or json.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from services.kernel.errors import Violations

DAY_MS = 86_400_000
REPORT_TYPES = ("device-uptime", "alert-summary", "data-volume")
REPORT_FORMATS = ("pdf", "csv", "json")
EXPORT_FORMATS = ("csv", "json")
MAX_REPORT_DEVICES = 50
MAX_REPORT_DAYS = 366
MAX_EXPORT_DEVICES = 500
MAX_EXPORT_METRICS = 100
MAX_EXPORT_RANGE_MS = 400 * DAY_MS
KNOWN_PARAMETERS = frozenset({"deviceIds", "startDate", "endDate"})


@dataclass(frozen=True)
class ReportSpec:
    report_type: str
    format: str
    device_ids: tuple[str, ...]
    start_day: date
    end_day: date  # included

    @property
    def days(self) -> int:
        return (self.end_day - self.start_day).days + 1

    @property
    def start_ms(self) -> int:
        return _day_ms(self.start_day)

    @property
    def end_ms(self) -> int:
        """The end of the range: midnight after endDate (exclusive)."""
        return _day_ms(self.end_day) + DAY_MS

    def as_parameters(self) -> dict[str, Any]:
        parameters: dict[str, Any] = {"startDate": self.start_day.isoformat(), "endDate": self.end_day.isoformat()}
        if self.device_ids:
            parameters["deviceIds"] = list(self.device_ids)
        return parameters

    @classmethod
    def from_parameters(cls, report_type: str, format: str, parameters: dict[str, Any]) -> ReportSpec:
        return cls(
            report_type,
            format,
            tuple(parameters.get("deviceIds", ())),
            date.fromisoformat(parameters["startDate"]),
            date.fromisoformat(parameters["endDate"]),
        )


@dataclass(frozen=True)
class ExportSpec:
    format: str
    device_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    start_ms: int
    end_ms: int

    def as_parameters(self) -> dict[str, Any]:
        return {
            "deviceIds": list(self.device_ids),
            "metrics": list(self.metrics),
            "startTime": _iso(self.start_ms),
            "endTime": _iso(self.end_ms),
            "startMs": self.start_ms,
            "endMs": self.end_ms,
        }

    @classmethod
    def from_parameters(cls, format: str, parameters: dict[str, Any]) -> ExportSpec:
        return cls(
            format,
            tuple(parameters["deviceIds"]),
            tuple(parameters["metrics"]),
            int(parameters["startMs"]),
            int(parameters["endMs"]),
        )


def validate_report(report_type: str, parameters: dict[str, Any], format: str) -> ReportSpec:
    problems = Violations()
    report_type = report_type.strip()
    if report_type not in REPORT_TYPES:
        problems.add("reportType", f"must be one of {', '.join(REPORT_TYPES)}, got {report_type!r}")
    format = format.strip().lower()
    if format not in REPORT_FORMATS:
        problems.add("format", f"must be one of {', '.join(REPORT_FORMATS)}, got {format!r}")
    unknown = sorted(set(parameters) - KNOWN_PARAMETERS)
    if unknown:
        problems.add("parameters", f"unknown parameters: {', '.join(unknown)}")
    devices = _device_ids(parameters.get("deviceIds"), problems)
    if report_type == "device-uptime" and not devices:
        problems.add("parameters.deviceIds", "device-uptime needs at least one device id")
    if report_type == "data-volume" and devices:
        problems.add("parameters.deviceIds", "data-volume covers the whole organization: leave deviceIds out")
    if len(devices) > MAX_REPORT_DEVICES:
        problems.add("parameters.deviceIds", f"at most {MAX_REPORT_DEVICES} devices, got {len(devices)}")
    start = _day(parameters.get("startDate"), "parameters.startDate", problems)
    end = _day(parameters.get("endDate"), "parameters.endDate", problems)
    if start is not None and end is not None:
        if end < start:
            problems.add("parameters.endDate", "must be on or after startDate")
        elif (end - start).days + 1 > MAX_REPORT_DAYS:
            problems.add("parameters.endDate", f"the range is {(end - start).days + 1} days, more than a year")
    problems.raise_if_any()
    assert start is not None
    assert end is not None
    return ReportSpec(report_type, format, devices, start, end)


def validate_export(
    device_ids: tuple[str, ...], metrics: tuple[str, ...], start_ms: int | None, end_ms: int | None, format: str
) -> ExportSpec:
    problems = Violations()
    devices = tuple(dict.fromkeys(d.strip() for d in device_ids if d.strip()))
    wanted = tuple(dict.fromkeys(m.strip() for m in metrics if m.strip()))
    if not devices:
        problems.add("deviceIds", "at least one device id is required")
    elif len(devices) > MAX_EXPORT_DEVICES:
        problems.add("deviceIds", f"at most {MAX_EXPORT_DEVICES} devices per export, got {len(devices)}")
    if len(wanted) > MAX_EXPORT_METRICS:
        problems.add("metrics", f"at most {MAX_EXPORT_METRICS} metrics per export, got {len(wanted)}")
    if start_ms is None:
        problems.add("startTime", "is required")
    if end_ms is None:
        problems.add("endTime", "is required")
    if start_ms is not None and end_ms is not None:
        if end_ms <= start_ms:
            problems.add("endTime", "must be after startTime")
        elif end_ms - start_ms > MAX_EXPORT_RANGE_MS:
            problems.add("endTime", "the range may span at most 400 days")
    format = format.strip().lower()
    if format not in EXPORT_FORMATS:
        problems.add("format", f"must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    problems.raise_if_any()
    assert start_ms is not None
    assert end_ms is not None
    return ExportSpec(format, devices, wanted, start_ms, end_ms)


def estimate_report_ms(spec: ReportSpec, queued_ahead: int) -> int:
    """Milliseconds a report should take once asked: a base, the data to read, the rendering, and the jobs
    already waiting (each about a base). Generous on purpose: clients poll until then."""
    base = 5_000
    reading = {"device-uptime": 150 * len(spec.device_ids), "alert-summary": 2_000, "data-volume": 1_000}
    rendering = 3_000 if spec.format == "pdf" else 500
    return base + reading.get(spec.report_type, 0) + 10 * spec.days + rendering + queued_ahead * base


def estimate_export_ms(spec: ExportSpec, queued_ahead: int) -> int:
    """About 200,000 datapoints a second, assuming one reading a minute of four metrics per device."""
    minutes = (spec.end_ms - spec.start_ms) / 60_000
    datapoints = len(spec.device_ids) * minutes * max(1, len(spec.metrics) or 4)
    return 5_000 + int(datapoints / 200) + queued_ahead * 5_000


def _device_ids(value: Any, problems: Violations) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add("parameters.deviceIds", "must be a list of device ids")
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value if v.strip()))


def _day(value: Any, field_name: str, problems: Violations) -> date | None:
    if value is None:
        problems.add(field_name, "is required (YYYY-MM-DD)")
        return None
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        problems.add(field_name, f"must be a date as YYYY-MM-DD, got {value!r}")
        return None


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"
