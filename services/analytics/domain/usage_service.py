"""The usage use cases (spec §6.4): counting readings and API calls as their events arrive, the monthly run
that computes, stores and announces every organization's report, and reading one report (admins only)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace

from services.analytics.domain.facts import DayReadings, ReadingCount, count_days
from services.analytics.domain.usage import (
    MonthUsage,
    Prices,
    UsageReport,
    month_of,
    months_of_days,
    parse_month,
    previous_month,
    report_of,
)
from services.analytics.usage_ports import UsageEvents, UsageStore
from services.kernel.caller import Caller, Role

log = logging.getLogger("iotmon.analytics.usage")

STORED_DEVICES_REMEMBERED = 1_000_000


@dataclass
class UsageStep:
    stage: str
    done: int
    total: int
    counters: dict[str, float] = field(default_factory=dict)
    finished: bool = False


class UsageReports:
    def __init__(self, store: UsageStore, events: UsageEvents, prices: Prices, now_ms: Callable[[], int]):
        self._store = store
        self._events = events
        self._prices = prices
        self._now_ms = now_ms
        # (organization, month) → devices this replica knows the store holds: a batch re-sent each of its
        # devices (a row or item per device and event), though a fleet's devices are new once a month.
        self._stored_devices: dict[tuple[str, str], set[str]] = {}
        self._remembered = 0  # devices in _stored_devices, kept as they come rather than summed per event

    # Counting (bus consumers; each event once, by its id).

    async def on_readings(self, event_id: str, organization_id: str, readings: Sequence[ReadingCount]) -> bool:
        return await self.on_days(event_id, organization_id, count_days(readings))

    async def on_days(self, event_id: str, organization_id: str, days: Sequence[DayReadings]) -> bool:
        """An event's readings as counted per UTC day (by telemetry, or by count_days)."""
        if not organization_id or not days:
            return False
        months = months_of_days(days)
        known = self._stored_devices
        unsent = [replace(m, devices=m.devices - known.get((organization_id, m.month), set())) for m in months]
        added = await self._store.add_readings(event_id, organization_id, unsent)
        new = sum(len(m.devices) for m in unsent)
        if self._remembered + new > STORED_DEVICES_REMEMBERED:
            known.clear()  # forgetting only costs re-sending devices the store ignores
            self._remembered = 0
        for m in unsent:  # after the store holds them (also when the event was counted before)
            known.setdefault((organization_id, m.month), set()).update(m.devices)
        self._remembered += new
        return added

    async def on_api_calls(self, event_id: str, organization_id: str, at_ms: int, calls: int) -> bool:
        if not organization_id or calls <= 0:
            return False
        return await self._store.add_api_calls(event_id, organization_id, month_of(at_ms), calls)

    async def forget_events_before(self, at_ms: int) -> int:
        """Event ids are remembered for de-duplication only as long as a redelivery can come."""
        return await self._store.forget_events_before(at_ms)

    # Reading (GET /analytics/usage).

    async def get(self, caller: Caller, month: str | None) -> UsageReport:
        """The caller's organization's report of the month (default: this month). A month the job has not
        reported yet (this one, so far) is computed from the counters as they are now."""
        caller.require(Role.ADMIN, "read the usage report")
        wanted = parse_month(month, month_of(self._now_ms()))
        stored = await self._store.get_report(caller.organization_id, wanted)
        if stored is not None:
            return stored
        usage = await self._store.month_usage(caller.organization_id, wanted)
        return report_of(usage, self._prices, self._now_ms())

    # The monthly job (RunUsageReports).

    async def run(self, month: str | None) -> AsyncIterator[UsageStep]:
        """Every organization with usage in the month (default: the previous one): computed, stored, announced.
        Safe to rerun: the report is replaced and the email is sent once per organization and month."""
        wanted = parse_month(month, previous_month(self._now_ms()))
        organizations = await self._store.organizations(wanted)
        counters = {"organizations": 0.0, "reports": 0.0, "estimatedCost": 0.0}
        yield UsageStep(f"usage of {wanted}: {len(organizations)} organizations", 0, len(organizations), dict(counters))
        for done, organization_id in enumerate(organizations, start=1):
            report = await self.report(organization_id, wanted)
            counters["organizations"] += 1
            counters["reports"] += 1
            counters["estimatedCost"] = round(counters["estimatedCost"] + report.estimated_cost, 2)
            yield UsageStep(f"{organization_id} {wanted}", done, len(organizations), dict(counters))
        log.info("usage reports done", extra={"month": wanted, "counters": counters})
        yield UsageStep("done", len(organizations), len(organizations), dict(counters), finished=True)

    async def report(self, organization_id: str, month: str) -> UsageReport:
        usage: MonthUsage = await self._store.month_usage(organization_id, month)
        report = report_of(usage, self._prices, self._now_ms())
        await self._store.save_report(report)
        await self._events.usage_reported(report)
        return report
