"""When `iotmon up` runs each job next."""

from __future__ import annotations

from datetime import UTC, datetime

from iotmon.jobs.registry import JOBS
from iotmon.jobs.schedule import Daily, Every, Monthly, Weekly
from iotmon.jobs.settings import JobSettings


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_runs_today_when_the_time_is_ahead_else_tomorrow() -> None:
    assert Daily("02:00").next_after(at("2025-11-14T01:59:00")) == at("2025-11-14T02:00:00")
    assert Daily("02:00").next_after(at("2025-11-14T02:00:00")) == at("2025-11-15T02:00:00")


def test_weekly_runs_on_its_weekday() -> None:
    # 2025-11-14 is a Friday (4); Sunday is 6.
    assert Weekly(6, "03:00").next_after(at("2025-11-14T10:00:00")) == at("2025-11-16T03:00:00")
    assert Weekly(4, "03:00").next_after(at("2025-11-14T10:00:00")) == at("2025-11-21T03:00:00")


def test_monthly_rolls_over_the_year() -> None:
    assert Monthly(1, "04:00").next_after(at("2025-12-01T04:00:00")) == at("2026-01-01T04:00:00")
    assert Monthly(1, "04:00").next_after(at("2025-11-30T23:00:00")) == at("2025-12-01T04:00:00")


def test_every_is_relative_to_now() -> None:
    assert Every(3600).next_after(at("2025-11-14T10:00:00")) == at("2025-11-14T11:00:00")


def test_the_four_jobs_the_chart_runs_and_their_default_schedules() -> None:
    assert sorted(JOBS) == ["archival", "cleanup", "health-check", "usage-report"]
    settings = JobSettings()
    assert JOBS["archival"].schedule(settings) == Daily("02:00")
    assert JOBS["health-check"].schedule(settings) == Every(3600)
    assert isinstance(JOBS["cleanup"].schedule(settings), Weekly)
    assert isinstance(JOBS["usage-report"].schedule(settings), Monthly)
