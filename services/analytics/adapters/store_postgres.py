"""The production CounterStore: PostgreSQL (asyncpg), shared by every analytics replica.

Each batch of facts is one transaction; a fact's row is locked (SELECT … FOR UPDATE after an insert-if-absent)
so two replicas applying events of one device or alert cannot both count them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from services.analytics.adapters.tables import table_names, tables_sql
from services.analytics.domain.dashboard import Snapshot, StoredNumbers, active_alerts, devices_online
from services.analytics.domain.facts import (
    DELETED,
    AlertFact,
    Deltas,
    DeviceFact,
    StoredAlert,
    StoredDevice,
    alert_deltas,
    device_deltas,
    month_start,
)
from services.runtime.postgres import open_pool

Connection = asyncpg.Connection | PoolConnectionProxy


class PostgresCounterStore:
    def __init__(self, pool: asyncpg.Pool, prefix: str = ""):
        self._pool = pool
        self._t = table_names(prefix)

    @classmethod
    async def open(cls, dsn: str, *, schema: str | None = None) -> PostgresCounterStore:
        """Connect and create the tables when missing (in `schema` when given, e.g. one per test)."""
        pool, prefix = await open_pool(dsn, tables_sql, schema=schema, max_size=8)
        return cls(pool, prefix)

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    async def close(self) -> None:
        await self._pool.close()

    async def apply_devices(self, facts: Sequence[DeviceFact], day: str) -> None:
        t = self._t
        async with self._pool.acquire() as db, db.transaction():
            touched: set[str] = set()
            # In key order, so two replicas applying overlapping batches lock rows in the same order.
            for fact in sorted(facts, key=lambda f: (f.organization_id, f.device_id)):
                row = await db.fetchrow(
                    f"SELECT status, at_ms FROM {t['devices']} WHERE organization_id = $1 AND device_id = $2 "
                    "FOR UPDATE",
                    fact.organization_id,
                    fact.device_id,
                )
                deltas = device_deltas(StoredDevice(row[0], row[1]) if row else None, fact)
                if deltas is None:
                    continue
                await db.execute(
                    f"INSERT INTO {t['devices']} VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id, device_id) "
                    "DO UPDATE SET status = excluded.status, at_ms = excluded.at_ms",
                    fact.organization_id,
                    fact.device_id,
                    fact.status,
                    fact.at_ms,
                )
                await self._add(db, fact.organization_id, deltas)
                touched.add(fact.organization_id)
            await self._snapshot(db, touched, day)

    async def apply_alerts(self, facts: Sequence[AlertFact], day: str) -> None:
        t = self._t
        async with self._pool.acquire() as db, db.transaction():
            touched: set[str] = set()
            for fact in sorted(facts, key=lambda f: (f.organization_id, f.alert_id)):
                row = await db.fetchrow(
                    f"SELECT severity, active FROM {t['alerts']} WHERE organization_id = $1 AND alert_id = $2 "
                    "FOR UPDATE",
                    fact.organization_id,
                    fact.alert_id,
                )
                deltas = alert_deltas(StoredAlert(row[0], bool(row[1])) if row else None, fact)
                if deltas is None:
                    continue
                await db.execute(
                    f"INSERT INTO {t['alerts']} VALUES ($1, $2, $3, $4, $5) ON CONFLICT (organization_id, alert_id) "
                    "DO UPDATE SET active = excluded.active, at_ms = excluded.at_ms",
                    fact.organization_id,
                    fact.alert_id,
                    fact.severity,
                    int(fact.active),
                    fact.at_ms,
                )
                await self._add(db, fact.organization_id, deltas)
                touched.add(fact.organization_id)
            await self._snapshot(db, touched, day)

    async def live_device_ids(self, organization_id: str) -> set[str]:
        rows = await self._pool.fetch(
            f"SELECT device_id FROM {self._t['devices']} WHERE organization_id = $1 AND status != $2",
            organization_id,
            DELETED,
        )
        return {row[0] for row in rows}

    async def active_alert_ids(self, organization_id: str) -> set[str]:
        rows = await self._pool.fetch(
            f"SELECT alert_id FROM {self._t['alerts']} WHERE organization_id = $1 AND active = 1", organization_id
        )
        return {row[0] for row in rows}

    async def add_volume(self, event_id: str, organization_id: str, bytes_by_day: Mapping[str, int]) -> bool:
        t = self._t
        async with self._pool.acquire() as db, db.transaction():
            status = await db.execute(
                f"INSERT INTO {t['seen_events']} VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) "
                "ON CONFLICT DO NOTHING",
                event_id,
            )
            if not str(status).endswith(" 1"):
                return False
            await db.executemany(
                f"INSERT INTO {t['volume']} VALUES ($1, $2, $3) ON CONFLICT (organization_id, day) "
                f"DO UPDATE SET bytes = {t['volume']}.bytes + excluded.bytes",
                [(organization_id, day, n) for day, n in bytes_by_day.items()],
            )
            return True

    async def set_volume(self, organization_id: str, bytes_by_day: Mapping[str, int]) -> None:
        await self._pool.executemany(
            f"INSERT INTO {self._t['volume']} VALUES ($1, $2, $3) ON CONFLICT (organization_id, day) "
            "DO UPDATE SET bytes = excluded.bytes",
            [(organization_id, day, n) for day, n in bytes_by_day.items()],
        )

    async def numbers(self, organization_id: str, today: str) -> StoredNumbers:
        t = self._t
        # One round trip: the dashboard refreshes every few seconds.
        row = await self._pool.fetchrow(
            f"""
            SELECT
              (SELECT coalesce(jsonb_object_agg(name, n), '{{}}') FROM {t["counters"]}
                 WHERE organization_id = $1)::text,
              (SELECT coalesce(sum(bytes) FILTER (WHERE day = $2), 0) FROM {t["volume"]}
                 WHERE organization_id = $1 AND day >= $3 AND day <= $2),
              (SELECT coalesce(sum(bytes), 0) FROM {t["volume"]}
                 WHERE organization_id = $1 AND day >= $3 AND day <= $2),
              (SELECT array[day, devices_online::text, active_alerts::text] FROM {t["snapshots"]}
                 WHERE organization_id = $1 AND day < $2 ORDER BY day DESC LIMIT 1),
              (SELECT at_ms FROM {t["reconciled"]} WHERE organization_id = $1)
            """,
            organization_id,
            today,
            month_start(today),
        )
        assert row is not None
        counters_json, today_bytes, month_bytes, baseline, reconciled = row
        counters = {str(k): int(v) for k, v in orjson.loads(counters_json).items()}
        return StoredNumbers(
            counters=counters,
            volume_today=int(today_bytes),
            volume_month=int(month_bytes),
            baseline=Snapshot(baseline[0], int(baseline[1]), int(baseline[2])) if baseline else None,
            reconciled_at_ms=reconciled,
        )

    async def mark_reconciled(self, organization_id: str, at_ms: int) -> None:
        await self._pool.execute(
            f"INSERT INTO {self._t['reconciled']} VALUES ($1, $2) ON CONFLICT (organization_id) "
            "DO UPDATE SET at_ms = excluded.at_ms",
            organization_id,
            at_ms,
        )

    async def forget_events_before(self, at_ms: int) -> int:
        status = await self._pool.execute(f"DELETE FROM {self._t['seen_events']} WHERE at_ms < $1", at_ms)
        return int(str(status).rsplit(" ", 1)[1])

    async def _add(self, db: Connection, organization_id: str, deltas: Deltas) -> None:
        counters = self._t["counters"]
        await db.executemany(
            f"INSERT INTO {counters} VALUES ($1, $2, $3) ON CONFLICT (organization_id, name) "
            f"DO UPDATE SET n = {counters}.n + excluded.n",
            [(organization_id, name, delta) for name, delta in deltas.items()],
        )

    async def _snapshot(self, db: Connection, organizations: set[str], day: str) -> None:
        for organization_id in sorted(organizations):
            rows = await db.fetch(
                f"SELECT name, n FROM {self._t['counters']} WHERE organization_id = $1", organization_id
            )
            counters = {row[0]: int(row[1]) for row in rows}
            await db.execute(
                f"INSERT INTO {self._t['snapshots']} VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id, day) "
                "DO UPDATE SET devices_online = excluded.devices_online, active_alerts = excluded.active_alerts",
                organization_id,
                day,
                devices_online(counters),
                active_alerts(counters),
            )
