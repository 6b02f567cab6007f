"""Report and export requests: each rule names the field, and the estimated completion grows with the work."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.analytics.domain.requests import (
    DAY_MS,
    ExportSpec,
    ReportSpec,
    estimate_export_ms,
    estimate_report_ms,
    validate_export,
    validate_report,
)
from services.kernel.errors import ValidationFailed

T0 = 1_735_689_600_000  # 2025-01-01


def fields_of(error: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {v.field: v.description for v in error.value.violations}


def test_the_spec_example_is_valid() -> None:
    spec = validate_report(
        "device-uptime", {"deviceIds": ["dev-abc123"], "startDate": "2025-10-01", "endDate": "2025-10-31"}, "pdf"
    )
    assert spec == ReportSpec("device-uptime", "pdf", ("dev-abc123",), date(2025, 10, 1), date(2025, 10, 31))
    assert spec.days == 31
    assert spec.end_ms - spec.start_ms == 31 * DAY_MS
    assert ReportSpec.from_parameters("device-uptime", "pdf", spec.as_parameters()) == spec


@pytest.mark.parametrize(
    ("report_type", "parameters", "format", "expected"),
    [
        ("uptime", {"startDate": "2025-01-01", "endDate": "2025-01-02"}, "pdf", {"reportType"}),
        ("data-volume", {"startDate": "2025-01-01", "endDate": "2025-01-02"}, "xlsx", {"format"}),
        ("device-uptime", {"startDate": "2025-01-01", "endDate": "2025-01-02"}, "csv", {"parameters.deviceIds"}),
        (
            "data-volume",
            {"deviceIds": ["d"], "startDate": "2025-01-01", "endDate": "2025-01-02"},
            "csv",
            {"parameters.deviceIds"},
        ),
        ("alert-summary", {"startDate": "2025-1-1", "endDate": "2025-01-02"}, "json", {"parameters.startDate"}),
        ("alert-summary", {"startDate": "2025-01-03", "endDate": "2025-01-02"}, "json", {"parameters.endDate"}),
        ("alert-summary", {"startDate": "2024-01-01", "endDate": "2025-01-01"}, "json", {"parameters.endDate"}),
        ("alert-summary", {}, "json", {"parameters.startDate", "parameters.endDate"}),
        (
            "alert-summary",
            {"startDate": "2025-01-01", "endDate": "2025-01-02", "colour": "red"},
            "json",
            {"parameters"},
        ),
        (
            "alert-summary",
            {"deviceIds": "dev-1", "startDate": "2025-01-01", "endDate": "2025-01-02"},
            "json",
            {"parameters.deviceIds"},
        ),
    ],
)
def test_invalid_reports_name_their_fields(
    report_type: str, parameters: dict[str, Any], format: str, expected: set[str]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate_report(report_type, parameters, format)
    assert set(fields_of(refused)) == expected


def test_a_year_is_allowed_and_devices_are_optional_for_alert_summaries() -> None:
    spec = validate_report("alert-summary", {"startDate": "2024-01-01", "endDate": "2024-12-31"}, " JSON ")
    assert (spec.days, spec.device_ids, spec.format) == (366, (), "json")


def test_too_many_report_devices() -> None:
    devices = [f"dev-{i}" for i in range(51)]
    with pytest.raises(ValidationFailed) as refused:
        validate_report(
            "device-uptime", {"deviceIds": devices, "startDate": "2025-01-01", "endDate": "2025-01-01"}, "pdf"
        )
    assert "at most 50" in fields_of(refused)["parameters.deviceIds"]


def test_exports_are_checked() -> None:
    spec = validate_export(("d1", " d1 ", "d2"), ("temperature",), T0, T0 + DAY_MS, "JSON")
    assert spec == ExportSpec("json", ("d1", "d2"), ("temperature",), T0, T0 + DAY_MS)
    assert ExportSpec.from_parameters("json", spec.as_parameters()) == spec
    assert spec.as_parameters()["startTime"] == "2025-01-01T00:00:00Z"
    with pytest.raises(ValidationFailed) as refused:
        validate_export((), tuple(f"m{i}" for i in range(101)), None, None, "xml")
    assert set(fields_of(refused)) == {"deviceIds", "metrics", "startTime", "endTime", "format"}
    with pytest.raises(ValidationFailed) as refused:
        validate_export(("d",), (), T0, T0 + 401 * DAY_MS, "csv")
    assert set(fields_of(refused)) == {"endTime"}


def test_estimates_grow_with_devices_days_rendering_and_the_queue() -> None:
    small = ReportSpec("device-uptime", "csv", ("d1",), date(2025, 1, 1), date(2025, 1, 1))
    more_devices = ReportSpec("device-uptime", "csv", ("d1", "d2", "d3"), date(2025, 1, 1), date(2025, 1, 1))
    more_days = ReportSpec("device-uptime", "csv", ("d1",), date(2025, 1, 1), date(2025, 3, 1))
    pdf = ReportSpec("device-uptime", "pdf", ("d1",), date(2025, 1, 1), date(2025, 1, 1))
    base = estimate_report_ms(small, 0)
    assert base > 0
    assert estimate_report_ms(more_devices, 0) > base
    assert estimate_report_ms(more_days, 0) > base
    assert estimate_report_ms(pdf, 0) > base
    assert estimate_report_ms(small, 3) > base
    day = ExportSpec("csv", ("d1",), (), T0, T0 + DAY_MS)
    assert estimate_export_ms(ExportSpec("csv", ("d1",), (), T0, T0 + 30 * DAY_MS), 0) > estimate_export_ms(day, 0)
