"""The counter store's tables, one DDL for SQLite and PostgreSQL (`prefix`: a PostgreSQL schema's)."""

from __future__ import annotations

NAMES = ("devices", "alerts", "counters", "snapshots", "volume", "seen_events", "reconciled")


def table_names(prefix: str = "") -> dict[str, str]:
    return {name: f"{prefix}analytics_{name}" for name in NAMES}


def tables_sql(prefix: str = "") -> str:
    t = table_names(prefix)
    return f"""
CREATE TABLE IF NOT EXISTS {t["devices"]} (
    organization_id TEXT NOT NULL, device_id TEXT NOT NULL, status TEXT NOT NULL, at_ms BIGINT NOT NULL,
    PRIMARY KEY (organization_id, device_id)
);
CREATE TABLE IF NOT EXISTS {t["alerts"]} (
    organization_id TEXT NOT NULL, alert_id TEXT NOT NULL, severity TEXT NOT NULL, active INTEGER NOT NULL,
    at_ms BIGINT NOT NULL, PRIMARY KEY (organization_id, alert_id)
);
CREATE TABLE IF NOT EXISTS {t["counters"]} (
    organization_id TEXT NOT NULL, name TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (organization_id, name)
);
CREATE TABLE IF NOT EXISTS {t["snapshots"]} (
    organization_id TEXT NOT NULL, day TEXT NOT NULL, devices_online BIGINT NOT NULL,
    active_alerts BIGINT NOT NULL, PRIMARY KEY (organization_id, day)
);
CREATE TABLE IF NOT EXISTS {t["volume"]} (
    organization_id TEXT NOT NULL, day TEXT NOT NULL, bytes BIGINT NOT NULL, PRIMARY KEY (organization_id, day)
);
CREATE TABLE IF NOT EXISTS {t["seen_events"]} (event_id TEXT PRIMARY KEY, at_ms BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS {t["seen_events"].replace('"', "").replace(".", "_")}_at ON {t["seen_events"]} (at_ms);
CREATE TABLE IF NOT EXISTS {t["reconciled"]} (organization_id TEXT PRIMARY KEY, at_ms BIGINT NOT NULL);
"""
