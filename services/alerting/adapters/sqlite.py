"""The embedded AlertingStore: one SQLite file in the data directory (services/runtime/sqlite.py).

De-duplication and cooldown are checked and the alert inserted inside one IMMEDIATE transaction; a partial
unique index on open alerts of a rule and device is the last guard, should two processes share the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from pathlib import Path

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
from services.alerting.adapters.tables import SQLITE_TYPES, tables_sql
from services.alerting.domain.alerts import Alert, AlertStatus
from services.alerting.domain.listing import AlertFilter, RuleFilter
from services.alerting.domain.rules import Rule
from services.kernel.pagination import Page, PageRequest
from services.runtime.sqlite import fetch_page, immediate_transaction, open_sqlite

SCHEMA = tables_sql(SQLITE_TYPES)
# Host parameters per statement: well under SQLite's oldest limit (999).
SQLITE_MAX_PARAMETERS = 500


def _q(_: int) -> str:
    return "?"


class SqliteAlertingStore:
    def __init__(self, path: Path | str):
        self._db = open_sqlite(path, SCHEMA)

    async def close(self) -> None:
        self._db.close()

    # Rules.

    async def add_rule(self, rule: Rule) -> None:
        self._db.execute(f"INSERT INTO alert_rules ({RULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rule_row(rule))

    async def get_rule(self, organization_id: str, rule_id: str) -> Rule | None:
        row = self._db.execute(
            f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE rule_id = ? AND organization_id = ?",
            (rule_id, organization_id),
        ).fetchone()
        return rule_from_row(row) if row else None

    async def save_rule(self, rule: Rule) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO alert_rules ({RULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rule_row(rule)
        )

    async def list_rules(self, organization_id: str, query: RuleFilter, page: PageRequest) -> Page[Rule]:
        where, params = rule_where(organization_id, query, _q)
        return fetch_page(
            self._db,
            page,
            rule_from_row,
            columns=RULE_COLUMNS,
            source=f"FROM alert_rules WHERE {where}",
            parameters=params,
            order_by="created_at_ms DESC, rule_id DESC",
        )

    async def enabled_rules(self) -> list[Rule]:
        rows = self._db.execute(
            f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE enabled = 1 AND deleted_at_ms IS NULL"
        ).fetchall()
        return [rule_from_row(r) for r in rows]

    # Alerts.

    async def add_alert_unless_open_or_cooling(self, alert: Alert, cooldown_since_ms: int) -> bool:
        try:
            with immediate_transaction(self._db) as db:
                blocking = db.execute(
                    f"SELECT 1 FROM alerts WHERE rule_id = ? AND device_id = ? AND ({OPEN_IN} OR triggered_at_ms >= ?) "
                    "LIMIT 1",
                    (alert.rule_id, alert.device_id, cooldown_since_ms),
                ).fetchone()
                if blocking is None:
                    placeholders = ", ".join("?" * len(ALERT_COLUMNS.split(", ")))
                    db.execute(f"INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ({placeholders})", alert_row(alert))
        except sqlite3.IntegrityError:
            return False
        return blocking is None

    async def get_alert(self, organization_id: str, alert_id: str) -> Alert | None:
        row = self._db.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = ? AND organization_id = ?",
            (alert_id, organization_id),
        ).fetchone()
        return alert_from_row(row) if row else None

    async def save_alert(self, alert: Alert, *, expected_status: AlertStatus) -> bool:
        assignments = ", ".join(f"{column} = ?" for column in ALERT_MUTABLE)
        cursor = self._db.execute(
            f"UPDATE alerts SET {assignments} WHERE alert_id = ? AND status = ?",
            (*alert_mutable_values(alert), alert.alert_id, expected_status.value),
        )
        return cursor.rowcount == 1

    async def list_alerts(self, organization_id: str, query: AlertFilter, page: PageRequest) -> Page[Alert]:
        where, params = alert_where(organization_id, query, _q)
        return fetch_page(
            self._db,
            page,
            alert_from_row,
            columns=ALERT_COLUMNS,
            source=f"FROM alerts WHERE {where}",
            parameters=params,
            order_by="triggered_at_ms DESC, alert_id DESC",
        )

    async def open_alerts_of_rule(
        self, organization_id: str, rule_id: str, *, excluding: str, limit: int
    ) -> list[Alert]:
        rows = self._db.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE organization_id = ? AND rule_id = ? AND {OPEN_IN} "
            "AND alert_id != ? ORDER BY triggered_at_ms DESC, alert_id DESC LIMIT ?",
            (organization_id, rule_id, excluding, limit),
        ).fetchall()
        return [alert_from_row(r) for r in rows]

    async def count_open(self, device_id: str) -> int:
        query = f"SELECT COUNT(*) FROM alerts WHERE device_id = ? AND {OPEN_IN}"
        (count,) = self._db.execute(query, (device_id,)).fetchone()
        return int(count)

    async def add_notification_sent(self, alert_id: str, channel: str) -> None:
        # One statement: the check and the append cannot interleave with another delivery of the same alert.
        self._db.execute(
            "UPDATE alerts SET notifications_sent = json_insert(notifications_sent, '$[#]', ?) WHERE alert_id = ? "
            "AND NOT EXISTS (SELECT 1 FROM json_each(alerts.notifications_sent) WHERE value = ?)",
            (channel, alert_id, channel),
        )

    async def delete_resolved_before(self, cutoff_ms: int, limit: int) -> int:
        cursor = self._db.execute(
            "DELETE FROM alerts WHERE alert_id IN (SELECT alert_id FROM alerts "
            "WHERE status = 'resolved' AND resolved_at_ms < ? LIMIT ?)",
            (cutoff_ms, limit),
        )
        return cursor.rowcount

    async def resolved_before(self, cutoff_ms: int, limit: int) -> list[Alert]:
        rows = self._db.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'resolved' AND resolved_at_ms < ? "
            "ORDER BY resolved_at_ms, alert_id LIMIT ?",
            (cutoff_ms, limit),
        ).fetchall()
        return [alert_from_row(r) for r in rows]

    async def delete_resolved(self, alert_ids: Collection[str]) -> int:
        ids = list(set(alert_ids))
        deleted = 0
        for start in range(0, len(ids), SQLITE_MAX_PARAMETERS):
            chunk = ids[start : start + SQLITE_MAX_PARAMETERS]
            cursor = self._db.execute(
                f"DELETE FROM alerts WHERE status = 'resolved' AND alert_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            deleted += cursor.rowcount
        return deleted
