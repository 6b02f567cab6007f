"""The embedded CounterStore: one SQLite file (data_dir/analytics.db), the default.

Each batch of facts is one transaction (BEGIN IMMEDIATE: a second process on the file waits for it), so a
fact's row, the counters it moves and the day's snapshot change together or not at all. Statements run on
the event loop (services/runtime/sqlite.py says why).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

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
from services.runtime.sqlite import immediate_transaction, open_sqlite

T = table_names()


class SqliteCounterStore:
    def __init__(self, path: Path | str):
        self._db = open_sqlite(path, tables_sql())

    @property
    def db(self) -> sqlite3.Connection:
        """The connection (bench/dashboard.py loads counters straight into it)."""
        return self._db

    async def close(self) -> None:
        self._db.close()

    async def apply_devices(self, facts: Sequence[DeviceFact], day: str) -> None:
        with immediate_transaction(self._db) as db:
            touched: set[str] = set()
            for fact in facts:
                row = db.execute(
                    f"SELECT status, at_ms FROM {T['devices']} WHERE organization_id = ? AND device_id = ?",
                    (fact.organization_id, fact.device_id),
                ).fetchone()
                deltas = device_deltas(StoredDevice(*row) if row else None, fact)
                if deltas is None:
                    continue
                db.execute(
                    f"INSERT INTO {T['devices']} VALUES (?, ?, ?, ?) ON CONFLICT (organization_id, device_id) "
                    "DO UPDATE SET status = excluded.status, at_ms = excluded.at_ms",
                    (fact.organization_id, fact.device_id, fact.status, fact.at_ms),
                )
                _add(db, fact.organization_id, deltas)
                touched.add(fact.organization_id)
            _snapshot(db, touched, day)

    async def apply_alerts(self, facts: Sequence[AlertFact], day: str) -> None:
        with immediate_transaction(self._db) as db:
            touched: set[str] = set()
            for fact in facts:
                row = db.execute(
                    f"SELECT severity, active FROM {T['alerts']} WHERE organization_id = ? AND alert_id = ?",
                    (fact.organization_id, fact.alert_id),
                ).fetchone()
                stored = StoredAlert(row[0], bool(row[1])) if row else None
                deltas = alert_deltas(stored, fact)
                if deltas is None:
                    continue
                db.execute(
                    f"INSERT INTO {T['alerts']} VALUES (?, ?, ?, ?, ?) ON CONFLICT (organization_id, alert_id) "
                    "DO UPDATE SET active = excluded.active, at_ms = excluded.at_ms",
                    (fact.organization_id, fact.alert_id, fact.severity, int(fact.active), fact.at_ms),
                )
                _add(db, fact.organization_id, deltas)
                touched.add(fact.organization_id)
            _snapshot(db, touched, day)

    async def live_device_ids(self, organization_id: str) -> set[str]:
        rows = self._db.execute(
            f"SELECT device_id FROM {T['devices']} WHERE organization_id = ? AND status != ?",
            (organization_id, DELETED),
        )
        return {device_id for (device_id,) in rows}

    async def active_alert_ids(self, organization_id: str) -> set[str]:
        rows = self._db.execute(
            f"SELECT alert_id FROM {T['alerts']} WHERE organization_id = ? AND active = 1", (organization_id,)
        )
        return {alert_id for (alert_id,) in rows}

    async def add_volume(self, event_id: str, organization_id: str, bytes_by_day: Mapping[str, int]) -> bool:
        with immediate_transaction(self._db) as db:
            seen = db.execute(
                f"INSERT INTO {T['seen_events']} VALUES (?, ?) ON CONFLICT DO NOTHING", (event_id, _now_ms())
            )
            if seen.rowcount != 1:
                return False
            db.executemany(
                f"INSERT INTO {T['volume']} VALUES (?, ?, ?) ON CONFLICT (organization_id, day) "
                "DO UPDATE SET bytes = bytes + excluded.bytes",
                [(organization_id, day, n) for day, n in bytes_by_day.items()],
            )
            return True

    async def set_volume(self, organization_id: str, bytes_by_day: Mapping[str, int]) -> None:
        with immediate_transaction(self._db) as db:
            db.executemany(
                f"INSERT INTO {T['volume']} VALUES (?, ?, ?) ON CONFLICT (organization_id, day) "
                "DO UPDATE SET bytes = excluded.bytes",
                [(organization_id, day, n) for day, n in bytes_by_day.items()],
            )

    async def numbers(self, organization_id: str, today: str) -> StoredNumbers:
        db = self._db
        counters = dict(
            db.execute(f"SELECT name, n FROM {T['counters']} WHERE organization_id = ?", (organization_id,))
        )
        today_bytes, month_bytes = db.execute(
            f"SELECT coalesce(sum(CASE WHEN day = ? THEN bytes END), 0), coalesce(sum(bytes), 0) FROM {T['volume']} "
            "WHERE organization_id = ? AND day >= ? AND day <= ?",
            (today, organization_id, month_start(today), today),
        ).fetchone()
        baseline = db.execute(
            f"SELECT day, devices_online, active_alerts FROM {T['snapshots']} WHERE organization_id = ? AND day < ? "
            "ORDER BY day DESC LIMIT 1",
            (organization_id, today),
        ).fetchone()
        reconciled = db.execute(
            f"SELECT at_ms FROM {T['reconciled']} WHERE organization_id = ?", (organization_id,)
        ).fetchone()
        return StoredNumbers(
            counters=counters,
            volume_today=int(today_bytes),
            volume_month=int(month_bytes),
            baseline=Snapshot(*baseline) if baseline else None,
            reconciled_at_ms=reconciled[0] if reconciled else None,
        )

    async def mark_reconciled(self, organization_id: str, at_ms: int) -> None:
        self._db.execute(
            f"INSERT INTO {T['reconciled']} VALUES (?, ?) ON CONFLICT (organization_id) "
            "DO UPDATE SET at_ms = excluded.at_ms",
            (organization_id, at_ms),
        )

    async def forget_events_before(self, at_ms: int) -> int:
        return self._db.execute(f"DELETE FROM {T['seen_events']} WHERE at_ms < ?", (at_ms,)).rowcount


def _add(db: sqlite3.Connection, organization_id: str, deltas: Deltas) -> None:
    db.executemany(
        f"INSERT INTO {T['counters']} VALUES (?, ?, ?) ON CONFLICT (organization_id, name) "
        "DO UPDATE SET n = n + excluded.n",
        [(organization_id, name, delta) for name, delta in deltas.items()],
    )


def _snapshot(db: sqlite3.Connection, organizations: set[str], day: str) -> None:
    for organization_id in organizations:
        counters = dict(
            db.execute(f"SELECT name, n FROM {T['counters']} WHERE organization_id = ?", (organization_id,))
        )
        db.execute(
            f"INSERT INTO {T['snapshots']} VALUES (?, ?, ?, ?) ON CONFLICT (organization_id, day) "
            "DO UPDATE SET devices_online = excluded.devices_online, active_alerts = excluded.active_alerts",
            (organization_id, day, devices_online(counters), active_alerts(counters)),
        )


def _counters(db: sqlite3.Connection, organization_id: str) -> dict[str, int]:
    rows = db.execute(f"SELECT name, n FROM {T['counters']} WHERE organization_id = ?", (organization_id,))
    return {name: int(n) for name, n in rows}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
