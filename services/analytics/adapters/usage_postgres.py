"""The production UsageStore: PostgreSQL (asyncpg), shared by every analytics replica. An event's counts and
its id are one transaction, so two replicas (or a redelivery) never count one event twice."""

from __future__ import annotations

import time

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.analytics.adapters.usage_tables import usage_table_names, usage_tables_sql
from services.analytics.domain.usage import MonthReadings, MonthUsage, UsageReport
from services.runtime.postgres import open_pool

Connection = asyncpg.Connection | PoolConnectionProxy


class PostgresUsageStore:
    def __init__(self, pool: asyncpg.Pool, prefix: str = ""):
        self._pool = pool
        self._t = usage_table_names(prefix)

    @classmethod
    async def open(cls, dsn: str, *, schema: str | None = None) -> PostgresUsageStore:
        pool, prefix = await open_pool(dsn, usage_tables_sql, schema=schema, max_size=4)
        return cls(pool, prefix)

    async def close(self) -> None:
        await self._pool.close()

    async def _first_time(self, db: Connection, event_id: str) -> bool:
        status = await db.execute(
            f"INSERT INTO {self._t['usage_seen']} VALUES ($1, $2) ON CONFLICT DO NOTHING",
            event_id,
            time.time_ns() // 1_000_000,
        )
        return bool(status.endswith(" 1"))

    async def add_readings(self, event_id: str, organization_id: str, months: list[MonthReadings]) -> bool:
        t = self._t
        async with self._pool.acquire() as db, db.transaction():
            if not await self._first_time(db, event_id):
                return False
            for part in months:
                await db.execute(
                    f"INSERT INTO {t['usage_months']} (organization_id, month, messages, data_bytes) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id, month) DO UPDATE SET "
                    f"messages = {t['usage_months']}.messages + excluded.messages, "
                    f"data_bytes = {t['usage_months']}.data_bytes + excluded.data_bytes",
                    organization_id,
                    part.month,
                    part.messages,
                    part.data_bytes,
                )
                await db.executemany(
                    f"INSERT INTO {t['usage_devices']} VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    [(organization_id, part.month, device_id) for device_id in sorted(part.devices)],
                )
            return True

    async def add_api_calls(self, event_id: str, organization_id: str, month: str, calls: int) -> bool:
        t = self._t
        async with self._pool.acquire() as db, db.transaction():
            if not await self._first_time(db, event_id):
                return False
            await db.execute(
                f"INSERT INTO {t['usage_months']} (organization_id, month, api_calls) VALUES ($1, $2, $3) "
                f"ON CONFLICT (organization_id, month) DO UPDATE SET "
                f"api_calls = {t['usage_months']}.api_calls + excluded.api_calls",
                organization_id,
                month,
                calls,
            )
            return True

    async def month_usage(self, organization_id: str, month: str) -> MonthUsage:
        t = self._t
        row = await self._pool.fetchrow(
            f"SELECT messages, data_bytes, api_calls FROM {t['usage_months']} WHERE organization_id = $1 "
            "AND month = $2",
            organization_id,
            month,
        )
        devices = await self._pool.fetchval(
            f"SELECT count(*) FROM {t['usage_devices']} WHERE organization_id = $1 AND month = $2",
            organization_id,
            month,
        )
        messages, data_bytes, api_calls = tuple(row) if row else (0, 0, 0)
        return MonthUsage(organization_id, month, int(data_bytes), int(messages), int(devices), int(api_calls))

    async def organizations(self, month: str) -> list[str]:
        rows = await self._pool.fetch(
            f"SELECT organization_id FROM {self._t['usage_months']} WHERE month = $1 ORDER BY organization_id", month
        )
        return [str(r[0]) for r in rows]

    async def save_report(self, report: UsageReport) -> None:
        u = report.usage
        await self._pool.execute(
            f"INSERT INTO {self._t['usage_reports']} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (organization_id, month) DO UPDATE SET data_bytes = excluded.data_bytes, "
            "messages = excluded.messages, devices = excluded.devices, api_calls = excluded.api_calls, "
            "estimated_cost = excluded.estimated_cost, currency = excluded.currency, "
            "created_at_ms = excluded.created_at_ms",
            u.organization_id,
            u.month,
            u.data_bytes,
            u.messages,
            u.devices,
            u.api_calls,
            report.estimated_cost,
            report.currency,
            report.created_at_ms,
        )

    async def get_report(self, organization_id: str, month: str) -> UsageReport | None:
        row = await self._pool.fetchrow(
            "SELECT data_bytes, messages, devices, api_calls, estimated_cost, currency, created_at_ms "
            f"FROM {self._t['usage_reports']} WHERE organization_id = $1 AND month = $2",
            organization_id,
            month,
        )
        if row is None:
            return None
        data_bytes, messages, devices, api_calls, cost, currency, created = tuple(row)
        usage = MonthUsage(organization_id, month, int(data_bytes), int(messages), int(devices), int(api_calls))
        return UsageReport(usage, float(cost), str(currency), int(created))

    async def forget_events_before(self, at_ms: int) -> int:
        status = await self._pool.execute(f"DELETE FROM {self._t['usage_seen']} WHERE at_ms < $1", at_ms)
        return int(status.split()[-1])
