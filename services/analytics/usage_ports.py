"""What the usage reports (§6.4, domain/usage_service.py) need from outside, one Protocol each; the adapters
usage_memory/usage_sqlite/usage_postgres and usage_events implement them."""

from __future__ import annotations

from typing import Protocol

from services.analytics.domain.usage import MonthReadings, MonthUsage, UsageReport


class UsageStore(Protocol):
    async def add_readings(self, event_id: str, organization_id: str, months: list[MonthReadings]) -> bool:
        """Count a readings event once per event id, atomically (False: counted before)."""
        ...

    async def add_api_calls(self, event_id: str, organization_id: str, month: str, calls: int) -> bool:
        """Count a gateway flush once per event id (False: counted before)."""
        ...

    async def month_usage(self, organization_id: str, month: str) -> MonthUsage:
        """The counted usage (zeros when nothing was counted)."""
        ...

    async def organizations(self, month: str) -> list[str]:
        """Organizations with any usage counted in the month, sorted."""
        ...

    async def save_report(self, report: UsageReport) -> None:
        """Store (or replace) the organization's report of the month."""
        ...

    async def get_report(self, organization_id: str, month: str) -> UsageReport | None: ...

    async def forget_events_before(self, at_ms: int) -> int:
        """Drop remembered event ids older than `at_ms`; how many."""
        ...

    async def close(self) -> None: ...


class UsageEvents(Protocol):
    async def usage_reported(self, report: UsageReport) -> None:
        """Publish analytics.usage_reported (the notification service emails the organization's admins)."""
        ...
