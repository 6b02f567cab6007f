"""Monthly usage (§6.4), the pure part and the use cases on the memory store: months, counting each event
once, the cost from the prices, the monthly run (default: the previous month) and the admin-only read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.analytics.adapters.usage_memory import InMemoryUsageStore
from services.analytics.domain.facts import DayReadings, ReadingCount, count_days
from services.analytics.domain.usage import (
    MonthReadings,
    MonthUsage,
    Prices,
    UsageReport,
    estimate_cost,
    month_of,
    months_of_days,
    parse_month,
    previous_month,
    readings_by_month,
)
from services.analytics.domain.usage_service import UsageReports
from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied, ValidationFailed

PRICES = Prices(per_gb=0.5, per_million_messages=1.0, per_device_month=0.1, per_million_api_calls=3.5)
JOBS = Caller.service("iotmon-jobs")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2025-10-15T12:00:00")


class Announced:
    def __init__(self) -> None:
        self.reports: list[UsageReport] = []

    async def usage_reported(self, report: UsageReport) -> None:
        self.reports.append(report)


def test_months() -> None:
    assert month_of(ms("2025-10-31T23:59:59")) == "2025-10"
    assert month_of(ms("2025-11-01T00:00:00")) == "2025-11"
    assert previous_month(NOW) == "2025-09"
    assert previous_month(ms("2026-01-03T00:00:00")) == "2025-12"
    assert parse_month(None, "2025-09") == "2025-09"
    assert parse_month(" ", "2025-09") == "2025-09"
    assert parse_month("2024-02", "2025-09") == "2024-02"
    for wrong in ("2025-13", "2025-1", "Oct 2025", "2025-10-01"):
        with pytest.raises(ValidationFailed) as refused:
            parse_month(wrong, "2025-09")
        assert [v.field for v in refused.value.violations] == ["month"]


def test_a_batch_straddling_a_month_end_counts_in_both_months() -> None:
    batch = [
        ReadingCount("dev-1", ms("2025-09-30T23:59:59"), 3),
        ReadingCount("dev-1", ms("2025-10-01T00:00:01"), 2),
        ReadingCount("dev-2", ms("2025-10-02T00:00:00"), 1),
    ]
    september, october = readings_by_month(batch)
    assert (september.month, september.messages, september.data_bytes, september.devices) == (
        "2025-09",
        1,
        48,
        frozenset({"dev-1"}),
    )
    assert (october.month, october.messages, october.data_bytes, october.devices) == (
        "2025-10",
        2,
        48,
        frozenset({"dev-1", "dev-2"}),
    )


def test_per_day_counts_make_months() -> None:
    batch = [
        ReadingCount("dev-1", ms("2025-09-30T23:59:59"), 3),
        ReadingCount("dev-1", ms("2025-10-01T00:00:01"), 2),
        ReadingCount("dev-2", ms("2025-10-01T08:00:00"), 5),
        ReadingCount("dev-2", ms("2025-10-02T00:00:00"), 1),
    ]
    days = count_days(batch)
    assert days == [
        DayReadings("2025-09-30", 1, 3, frozenset({"dev-1"})),
        DayReadings("2025-10-01", 2, 7, frozenset({"dev-1", "dev-2"})),
        DayReadings("2025-10-02", 1, 1, frozenset({"dev-2"})),
    ]
    assert months_of_days(days) == [
        MonthReadings("2025-09", 1, 48, frozenset({"dev-1"})),
        MonthReadings("2025-10", 3, 128, frozenset({"dev-1", "dev-2"})),
    ]
    assert months_of_days([]) == []


async def test_per_day_counts_are_counted_once_per_event_like_readings() -> None:
    september = ms("2025-09-10T08:00:00")
    batch = [ReadingCount("dev-1", september, 4), ReadingCount("dev-2", september + 1, 4)]
    by_days = UsageReports(InMemoryUsageStore(), Announced(), PRICES, lambda: NOW)
    by_readings = UsageReports(InMemoryUsageStore(), Announced(), PRICES, lambda: NOW)
    assert await by_days.on_days("evt-1", "org-a", count_days(batch))
    assert not await by_days.on_days("evt-1", "org-a", count_days(batch))  # redelivered
    assert not await by_days.on_days("evt-2", "", count_days(batch))  # no organization
    assert await by_readings.on_readings("evt-1", "org-a", batch)
    admin = Caller("user-1", "org-a", Role.ADMIN)
    days_report, readings_report = await by_days.get(admin, "2025-09"), await by_readings.get(admin, "2025-09")
    assert days_report.usage == readings_report.usage
    assert (days_report.usage.messages, days_report.usage.data_bytes, days_report.usage.devices) == (2, 128, 2)


def test_the_cost_prices_each_quantity() -> None:
    usage = MonthUsage(
        "org-1", "2025-09", data_bytes=2_000_000_000, messages=3_000_000, devices=10, api_calls=2_000_000
    )
    assert estimate_cost(usage, PRICES) == 1.0 + 3.0 + 1.0 + 7.0
    assert estimate_cost(MonthUsage("org-1", "2025-09"), PRICES) == 0
    assert estimate_cost(MonthUsage("org-1", "2025-09", messages=1), PRICES) == 0  # rounded to cents


async def test_events_are_counted_once_and_the_run_reports_every_organization_of_the_previous_month() -> None:
    store, announced = InMemoryUsageStore(), Announced()
    usage = UsageReports(store, announced, PRICES, lambda: NOW)
    september = ms("2025-09-10T08:00:00")
    readings = [ReadingCount("dev-1", september, 4), ReadingCount("dev-2", september + 1, 4)]
    assert await usage.on_readings("evt-1", "org-a", readings)
    assert not await usage.on_readings("evt-1", "org-a", readings)  # redelivered
    assert await usage.on_readings("evt-2", "org-a", [ReadingCount("dev-1", september + 2, 1)])
    assert await usage.on_api_calls("evt-3", "org-b", september, 250_000)
    assert not await usage.on_api_calls("evt-3", "org-b", september, 250_000)
    assert not await usage.on_api_calls("evt-4", "", september, 5)  # a service's calls name no organization
    assert await usage.on_api_calls("evt-5", "org-c", NOW, 7)  # October: not in September's run

    steps = [step async for step in usage.run(None)]
    assert steps[0].stage == "usage of 2025-09: 2 organizations"
    assert steps[-1].finished
    assert steps[-1].counters["reports"] == 2
    assert [(r.organization_id, r.month) for r in announced.reports] == [("org-a", "2025-09"), ("org-b", "2025-09")]
    org_a = announced.reports[0].usage
    assert (org_a.messages, org_a.data_bytes, org_a.devices, org_a.api_calls) == (3, 9 * 16, 2, 0)
    assert announced.reports[0].estimated_cost == 0.2  # two device-months; the rest rounds away
    assert announced.reports[1].estimated_cost == round(0.25 * 3.5, 2)
    assert await store.get_report("org-a", "2025-09") == announced.reports[0]

    # A rerun replaces the reports and announces them again (the email is once per month downstream).
    rerun = [step async for step in usage.run("2025-09")]
    assert rerun[-1].counters["reports"] == 2
    assert len(announced.reports) == 4


async def test_admins_read_their_organizations_report_and_others_are_refused() -> None:
    store, announced = InMemoryUsageStore(), Announced()
    usage = UsageReports(store, announced, PRICES, lambda: NOW)
    assert await usage.on_api_calls("evt-1", "org-a", NOW, 1_000_000)
    admin = Caller("user-1", "org-a", Role.ADMIN)
    # This month, not reported yet: computed from the counters so far.
    live = await usage.get(admin, None)
    assert (live.month, live.usage.api_calls, live.estimated_cost, live.currency) == ("2025-10", 1_000_000, 3.5, "USD")
    assert await store.get_report("org-a", "2025-10") is None  # reading does not store
    # Another organization's admin sees their own (empty) usage only.
    other = await usage.get(Caller("user-2", "org-b", Role.ADMIN), "2025-10")
    assert (other.organization_id, other.usage.api_calls) == ("org-b", 0)
    with pytest.raises(PermissionDenied):
        await usage.get(Caller("user-3", "org-a", Role.OPERATOR), None)
    with pytest.raises(ValidationFailed):
        await usage.get(admin, "October")
    # A reported month reads the stored report.
    [_ async for _ in usage.run("2025-10")]
    assert await usage.get(admin, "2025-10") == announced.reports[0]
    assert await usage.forget_events_before(NOW + 10**12) == 1


class DevicesSent(InMemoryUsageStore):
    """The memory store, noting the devices each add_readings call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[set[str]] = []

    async def add_readings(self, event_id: str, organization_id: str, months: list[MonthReadings]) -> bool:
        self.sent.append({device for part in months for device in part.devices})
        return await super().add_readings(event_id, organization_id, months)


async def test_a_device_is_sent_to_the_store_once_a_month_and_still_counted() -> None:
    store = DevicesSent()
    usage = UsageReports(store, Announced(), PRICES, lambda: NOW)
    september, october = ms("2025-09-10T08:00:00"), ms("2025-10-01T08:00:00")
    assert await usage.on_readings("evt-1", "org-a", [ReadingCount("dev-1", september, 4)])
    assert await usage.on_readings(
        "evt-2", "org-a", [ReadingCount("dev-1", september + 1, 4), ReadingCount("dev-2", september + 2, 4)]
    )
    assert await usage.on_readings("evt-3", "org-a", [ReadingCount("dev-1", october, 4)])  # a new month
    assert await usage.on_readings("evt-4", "org-b", [ReadingCount("dev-1", september, 4)])  # another organization
    assert store.sent == [{"dev-1"}, {"dev-2"}, {"dev-1"}, {"dev-1"}]
    september_a = await store.month_usage("org-a", "2025-09")
    assert (september_a.messages, september_a.devices) == (3, 2)
    assert (await store.month_usage("org-a", "2025-10")).devices == 1


async def test_past_its_bound_the_memory_of_stored_devices_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.analytics.domain.usage_service.STORED_DEVICES_REMEMBERED", 2)
    store = DevicesSent()
    usage = UsageReports(store, Announced(), PRICES, lambda: NOW)
    september = ms("2025-09-10T08:00:00")
    for n, device in enumerate(["dev-1", "dev-2", "dev-1", "dev-3", "dev-1"]):
        assert await usage.on_readings(f"evt-{n}", "org-a", [ReadingCount(device, september + n, 4)])
    # dev-3 makes three remembered: the memory starts over with dev-3 alone, so dev-1 is sent again.
    assert store.sent == [{"dev-1"}, {"dev-2"}, set(), {"dev-3"}, {"dev-1"}]
    assert (await store.month_usage("org-a", "2025-09")).devices == 3
