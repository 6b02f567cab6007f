"""Report documents from the peers' data: uptime hours, alert tallies by day and severity, bytes per day."""

from __future__ import annotations

from datetime import date

from services.analytics.domain.documents import (
    AlertCount,
    DeviceUptime,
    alert_summary_document,
    data_volume_document,
    device_uptime_document,
    hours_counted,
)
from services.analytics.domain.requests import ReportSpec

NOW = 1_767_225_600_000  # 2026-01-01
OCTOBER = ReportSpec("device-uptime", "pdf", ("d1", "d2"), date(2025, 10, 1), date(2025, 10, 31))


def test_uptime_rows_availability_and_chart() -> None:
    document = device_uptime_document(
        OCTOBER,
        [DeviceUptime("d1", "One", "online", 372, 744, 99.8), DeviceUptime("d2", "Two", "offline", 0, 0, None)],
        NOW,
    )
    assert document.rows[0] == ["d1", "One", "online", 372, 744, 50.0, 99.8]
    assert document.rows[1][5] is None  # no hour counted: no availability rather than 0 %
    assert dict(document.summary)["Average availability"] == "50.0%"
    assert document.chart is not None
    assert document.chart.series == {"availability": [50.0, 0.0]}


def test_hours_counted_start_at_registration_and_stop_now() -> None:
    start = OCTOBER.start_ms
    assert hours_counted(OCTOBER, None, NOW) == (start // 3_600_000, 744)
    registered = start + 10 * 3_600_000 + 5
    assert hours_counted(OCTOBER, registered, NOW) == (registered // 3_600_000, 734)
    halfway = start + 100 * 3_600_000 + 1
    assert hours_counted(OCTOBER, None, halfway)[1] == 101  # the current hour counts
    assert hours_counted(OCTOBER, None, start - 1)[1] == 0


def test_alert_summary_counts_per_day_and_severity_and_mean_time_to_resolve() -> None:
    spec = ReportSpec("alert-summary", "csv", (), date(2025, 10, 1), date(2025, 10, 3))
    counts = [
        AlertCount("2025-10-01", "d1", "One", "critical", "resolved", 2, 1200.0),
        AlertCount("2025-10-01", "d2", "Two", "warning", "triggered", 1, 0.0),
        AlertCount("2025-10-03", "d1", "One", "critical", "acknowledged", 4, 0.0),
    ]
    document = alert_summary_document(spec, counts, NOW)
    assert document.columns == ["day", "critical", "warning", "info", "total"]
    assert document.rows == [["2025-10-01", 2, 1, 0, 3], ["2025-10-02", 0, 0, 0, 0], ["2025-10-03", 4, 0, 0, 4]]
    summary = dict(document.summary)
    assert (summary["Alerts"], summary["Resolved"], summary["Acknowledged"]) == ("7", "2", "4")
    assert summary["Mean time to resolve"] == "10 min"
    assert document.chart is not None
    assert document.chart.series["critical"] == [2.0, 0.0, 4.0]


def test_data_volume_is_16_bytes_per_datapoint_for_every_day_of_the_range() -> None:
    spec = ReportSpec("data-volume", "json", (), date(2025, 10, 30), date(2025, 11, 1))
    document = data_volume_document(spec, {"2025-10-31": 1000, "2025-09-01": 5}, NOW)
    assert document.rows == [["2025-10-30", 0, 0], ["2025-10-31", 1000, 16000], ["2025-11-01", 0, 0]]
    assert dict(document.summary)["Bytes"] == "16,000"
