"""The production AlertingStore: PostgreSQL through asyncpg.

De-duplication and cooldown are checked and the alert inserted in one transaction holding an advisory lock
on the rule and device, so concurrent evaluators cannot both raise; a partial unique index on open alerts of
a rule and device is the last guard. Comments and notifications_sent are JSONB arrays.
"""

from __future__ import annotations

from collections.abc import Collection

import asyncpg

from services.alerting.adapters.rows import (
    ALERT_COLUMNS,
    ALERT_MUTABLE,
    OPEN_IN,
    RULE_COLUMNS,
    alert_from_row,
    alert_mutable_values,
    alert_row,
    alert_where,
    rule_from_row,
    rule_row,
    rule_where,
)
from services.alerting.adapters.tables import POSTGRES_TYPES, tables_sql
from services.alerting.domain.alerts import Alert, AlertStatus
from services.alerting.domain.listing import AlertFilter, RuleFilter
from services.alerting.domain.rules import Rule
from services.kernel.pagination import Page, PageRequest
from services.runtime.postgres import fetch_page, open_pool

JSON_COLUMNS = frozenset({"notifications_sent", "comments"})


def _schema_sql(prefix: str) -> str:
    return tables_sql(POSTGRES_TYPES, prefix)


def _p(index: int) -> str:
    return f"${index}"


def _values(columns: str) -> str:
    """$1, $2, … with JSONB columns cast from the text the rows carry."""
    names = columns.split(", ")
    return ", ".join(f"${i}::jsonb" if n in JSON_COLUMNS or n == "body" else f"${i}" for i, n in enumerate(names, 1))


def _alert(record: asyncpg.Record) -> Alert:
    return alert_from_row(tuple(record))


def _rule(record: asyncpg.Record) -> Rule:
    return rule_from_row(tuple(record))


class PostgresAlertingStore:
    def __init__(self, pool: asyncpg.Pool, prefix: str = "", *, owns_pool: bool = True):
        self._pool = pool
        self._rules = f"{prefix}alert_rules"
        self._alerts = f"{prefix}alerts"
        self._owns_pool = owns_pool

    @classmethod
    async def open(cls, dsn: str, *, schema: str | None = None) -> PostgresAlertingStore:
        """Connect and create the tables when missing (in `schema` when given, e.g. one per test)."""
        pool, prefix = await open_pool(dsn, _schema_sql, schema=schema)
        return cls(pool, prefix)

    async def close(self) -> None:
        if self._owns_pool:
            await self._pool.close()

    # Rules.

    async def add_rule(self, rule: Rule) -> None:
        await self._pool.execute(
            f"INSERT INTO {self._rules} ({RULE_COLUMNS}) VALUES ({_values(RULE_COLUMNS)})", *rule_row(rule)
        )

    async def get_rule(self, organization_id: str, rule_id: str) -> Rule | None:
        record = await self._pool.fetchrow(
            f"SELECT {self._rule_select()} FROM {self._rules} WHERE rule_id = $1 AND organization_id = $2",
            rule_id,
            organization_id,
        )
        return _rule(record) if record else None

    async def save_rule(self, rule: Rule) -> None:
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in RULE_COLUMNS.split(", ")[1:])
        await self._pool.execute(
            f"INSERT INTO {self._rules} ({RULE_COLUMNS}) VALUES ({_values(RULE_COLUMNS)}) "
            f"ON CONFLICT (rule_id) DO UPDATE SET {updates}",
            *rule_row(rule),
        )

    async def list_rules(self, organization_id: str, query: RuleFilter, page: PageRequest) -> Page[Rule]:
        where, params = rule_where(organization_id, query, _p)
        return await fetch_page(
            self._pool,
            page,
            _rule,
            columns=self._rule_select(),
            source=f"FROM {self._rules} WHERE {where}",
            parameters=params,
            order_by="created_at_ms DESC, rule_id DESC",
        )

    async def enabled_rules(self) -> list[Rule]:
        records = await self._pool.fetch(
            f"SELECT {self._rule_select()} FROM {self._rules} WHERE enabled AND deleted_at_ms IS NULL"
        )
        return [_rule(r) for r in records]

    @staticmethod
    def _rule_select() -> str:
        return RULE_COLUMNS.replace("body", "body::text")

    # Alerts.

    async def add_alert_unless_open_or_cooling(self, alert: Alert, cooldown_since_ms: int) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{alert.rule_id}/{alert.device_id}"
            )
            blocking = await connection.fetchval(
                f"SELECT 1 FROM {self._alerts} WHERE rule_id = $1 AND device_id = $2 "
                f"AND ({OPEN_IN} OR triggered_at_ms >= $3) LIMIT 1",
                alert.rule_id,
                alert.device_id,
                cooldown_since_ms,
            )
            if blocking is not None:
                return False
            try:
                await connection.execute(
                    f"INSERT INTO {self._alerts} ({ALERT_COLUMNS}) VALUES ({_values(ALERT_COLUMNS)})",
                    *alert_row(alert),
                )
            except asyncpg.UniqueViolationError:
                return False
        return True

    async def get_alert(self, organization_id: str, alert_id: str) -> Alert | None:
        record = await self._pool.fetchrow(
            f"SELECT {self._alert_select()} FROM {self._alerts} WHERE alert_id = $1 AND organization_id = $2",
            alert_id,
            organization_id,
        )
        return _alert(record) if record else None

    async def save_alert(self, alert: Alert, *, expected_status: AlertStatus) -> bool:
        assignments = ", ".join(
            f"{c} = ${i}::jsonb" if c in JSON_COLUMNS else f"{c} = ${i}" for i, c in enumerate(ALERT_MUTABLE, 1)
        )
        n = len(ALERT_MUTABLE)
        status = await self._pool.execute(
            f"UPDATE {self._alerts} SET {assignments} WHERE alert_id = ${n + 1} AND status = ${n + 2}",
            *alert_mutable_values(alert),
            alert.alert_id,
            expected_status.value,
        )
        return bool(status == "UPDATE 1")

    async def list_alerts(self, organization_id: str, query: AlertFilter, page: PageRequest) -> Page[Alert]:
        where, params = alert_where(organization_id, query, _p)
        return await fetch_page(
            self._pool,
            page,
            _alert,
            columns=self._alert_select(),
            source=f"FROM {self._alerts} WHERE {where}",
            parameters=params,
            order_by="triggered_at_ms DESC, alert_id DESC",
        )

    async def open_alerts_of_rule(
        self, organization_id: str, rule_id: str, *, excluding: str, limit: int
    ) -> list[Alert]:
        records = await self._pool.fetch(
            f"SELECT {self._alert_select()} FROM {self._alerts} WHERE organization_id = $1 AND rule_id = $2 "
            f"AND {OPEN_IN} AND alert_id != $3 ORDER BY triggered_at_ms DESC, alert_id DESC LIMIT $4",
            organization_id,
            rule_id,
            excluding,
            limit,
        )
        return [_alert(r) for r in records]

    async def count_open(self, device_id: str) -> int:
        count = await self._pool.fetchval(
            f"SELECT COUNT(*) FROM {self._alerts} WHERE device_id = $1 AND {OPEN_IN}", device_id
        )
        return int(count)

    async def add_notification_sent(self, alert_id: str, channel: str) -> None:
        # One statement: the check and the append cannot interleave with another delivery of the same alert.
        await self._pool.execute(
            f"UPDATE {self._alerts} SET notifications_sent = notifications_sent || to_jsonb($2::text) "
            "WHERE alert_id = $1 AND NOT notifications_sent ? $2",
            alert_id,
            channel,
        )

    async def delete_resolved_before(self, cutoff_ms: int, limit: int) -> int:
        status = await self._pool.execute(
            f"DELETE FROM {self._alerts} WHERE alert_id IN (SELECT alert_id FROM {self._alerts} "
            "WHERE status = 'resolved' AND resolved_at_ms < $1 LIMIT $2)",
            cutoff_ms,
            limit,
        )
        return int(status.split()[-1])

    async def resolved_before(self, cutoff_ms: int, limit: int) -> list[Alert]:
        records = await self._pool.fetch(
            f"SELECT {self._alert_select()} FROM {self._alerts} WHERE status = 'resolved' AND resolved_at_ms < $1 "
            "ORDER BY resolved_at_ms, alert_id LIMIT $2",
            cutoff_ms,
            limit,
        )
        return [_alert(r) for r in records]

    async def delete_resolved(self, alert_ids: Collection[str]) -> int:
        status = await self._pool.execute(
            f"DELETE FROM {self._alerts} WHERE status = 'resolved' AND alert_id = ANY($1::text[])",
            list(set(alert_ids)),
        )
        return int(status.split()[-1])

    @staticmethod
    def _alert_select() -> str:
        return ALERT_COLUMNS.replace("notifications_sent", "notifications_sent::text").replace(
            "comments", "comments::text"
        )
