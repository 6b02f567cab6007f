"""A UsageStore in memory: for tests and demos; forgets everything on restart."""

from __future__ import annotations

import time

from services.analytics.domain.usage import MonthReadings, MonthUsage, UsageReport


class InMemoryUsageStore:
    def __init__(self) -> None:
        self._months: dict[tuple[str, str], dict[str, int]] = {}
        self._devices: dict[tuple[str, str], set[str]] = {}
        self._seen: dict[str, int] = {}
        self._reports: dict[tuple[str, str], UsageReport] = {}

    def _first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = time.time_ns() // 1_000_000
        return True

    def _month(self, organization_id: str, month: str) -> dict[str, int]:
        return self._months.setdefault((organization_id, month), {"messages": 0, "data_bytes": 0, "api_calls": 0})

    async def add_readings(self, event_id: str, organization_id: str, months: list[MonthReadings]) -> bool:
        if not self._first_time(event_id):
            return False
        for part in months:
            counts = self._month(organization_id, part.month)
            counts["messages"] += part.messages
            counts["data_bytes"] += part.data_bytes
            self._devices.setdefault((organization_id, part.month), set()).update(part.devices)
        return True

    async def add_api_calls(self, event_id: str, organization_id: str, month: str, calls: int) -> bool:
        if not self._first_time(event_id):
            return False
        self._month(organization_id, month)["api_calls"] += calls
        return True

    async def month_usage(self, organization_id: str, month: str) -> MonthUsage:
        counts = self._months.get((organization_id, month), {})
        return MonthUsage(
            organization_id,
            month,
            data_bytes=counts.get("data_bytes", 0),
            messages=counts.get("messages", 0),
            devices=len(self._devices.get((organization_id, month), ())),
            api_calls=counts.get("api_calls", 0),
        )

    async def organizations(self, month: str) -> list[str]:
        return sorted(org for org, m in self._months if m == month)

    async def save_report(self, report: UsageReport) -> None:
        self._reports[(report.organization_id, report.month)] = report

    async def get_report(self, organization_id: str, month: str) -> UsageReport | None:
        return self._reports.get((organization_id, month))

    async def forget_events_before(self, at_ms: int) -> int:
        old = [event_id for event_id, seen_at in self._seen.items() if seen_at < at_ms]
        for event_id in old:
            del self._seen[event_id]
        return len(old)

    async def close(self) -> None:
        return None
