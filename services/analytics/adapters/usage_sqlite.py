"""The embedded UsageStore: tables in the analytics SQLite file (data_dir/analytics.db). An event's counts and
its id are one IMMEDIATE transaction, so a redelivered event counts nothing."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from services.analytics.adapters.usage_tables import usage_table_names, usage_tables_sql
from services.analytics.domain.usage import MonthReadings, MonthUsage, UsageReport
from services.runtime.sqlite import immediate_transaction, open_sqlite

T = usage_table_names()


class SqliteUsageStore:
    def __init__(self, path: Path | str):
        self._db = open_sqlite(path, usage_tables_sql())

    async def close(self) -> None:
        self._db.close()

    async def add_readings(self, event_id: str, organization_id: str, months: list[MonthReadings]) -> bool:
        with immediate_transaction(self._db) as db:
            if not _first_time(db, event_id):
                return False
            for part in months:
                db.execute(
                    f"INSERT INTO {T['usage_months']} (organization_id, month, messages, data_bytes) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (organization_id, month) DO UPDATE SET "
                    "messages = messages + excluded.messages, data_bytes = data_bytes + excluded.data_bytes",
                    (organization_id, part.month, part.messages, part.data_bytes),
                )
                db.executemany(
                    f"INSERT INTO {T['usage_devices']} VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    [(organization_id, part.month, device_id) for device_id in sorted(part.devices)],
                )
            return True

    async def add_api_calls(self, event_id: str, organization_id: str, month: str, calls: int) -> bool:
        with immediate_transaction(self._db) as db:
            if not _first_time(db, event_id):
                return False
            db.execute(
                f"INSERT INTO {T['usage_months']} (organization_id, month, api_calls) VALUES (?, ?, ?) "
                "ON CONFLICT (organization_id, month) DO UPDATE SET api_calls = api_calls + excluded.api_calls",
                (organization_id, month, calls),
            )
            return True

    async def month_usage(self, organization_id: str, month: str) -> MonthUsage:
        row = self._db.execute(
            f"SELECT messages, data_bytes, api_calls FROM {T['usage_months']} WHERE organization_id = ? AND month = ?",
            (organization_id, month),
        ).fetchone()
        (devices,) = self._db.execute(
            f"SELECT count(*) FROM {T['usage_devices']} WHERE organization_id = ? AND month = ?",
            (organization_id, month),
        ).fetchone()
        messages, data_bytes, api_calls = row or (0, 0, 0)
        return MonthUsage(organization_id, month, int(data_bytes), int(messages), int(devices), int(api_calls))

    async def organizations(self, month: str) -> list[str]:
        rows = self._db.execute(
            f"SELECT organization_id FROM {T['usage_months']} WHERE month = ? ORDER BY organization_id", (month,)
        )
        return [org for (org,) in rows]

    async def save_report(self, report: UsageReport) -> None:
        u = report.usage
        self._db.execute(
            f"INSERT OR REPLACE INTO {T['usage_reports']} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                u.organization_id,
                u.month,
                u.data_bytes,
                u.messages,
                u.devices,
                u.api_calls,
                report.estimated_cost,
                report.currency,
                report.created_at_ms,
            ),
        )

    async def get_report(self, organization_id: str, month: str) -> UsageReport | None:
        row = self._db.execute(
            f"SELECT data_bytes, messages, devices, api_calls, estimated_cost, currency, created_at_ms "
            f"FROM {T['usage_reports']} WHERE organization_id = ? AND month = ?",
            (organization_id, month),
        ).fetchone()
        if row is None:
            return None
        data_bytes, messages, devices, api_calls, cost, currency, created = row
        usage = MonthUsage(organization_id, month, int(data_bytes), int(messages), int(devices), int(api_calls))
        return UsageReport(usage, float(cost), str(currency), int(created))

    async def forget_events_before(self, at_ms: int) -> int:
        return self._db.execute(f"DELETE FROM {T['usage_seen']} WHERE at_ms < ?", (at_ms,)).rowcount


def _first_time(db: sqlite3.Connection, event_id: str) -> bool:
    cursor = db.execute(
        f"INSERT INTO {T['usage_seen']} VALUES (?, ?) ON CONFLICT DO NOTHING", (event_id, time.time_ns() // 1_000_000)
    )
    return cursor.rowcount == 1
