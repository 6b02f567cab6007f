"""The usage store's tables (§6.4), one DDL for SQLite and PostgreSQL (`prefix`: a PostgreSQL schema's)."""

from __future__ import annotations

NAMES = ("usage_months", "usage_devices", "usage_seen", "usage_reports")


def usage_table_names(prefix: str = "") -> dict[str, str]:
    return {name: f"{prefix}analytics_{name}" for name in NAMES}


def usage_tables_sql(prefix: str = "") -> str:
    t = usage_table_names(prefix)
    return f"""
CREATE TABLE IF NOT EXISTS {t["usage_months"]} (
    organization_id TEXT NOT NULL, month TEXT NOT NULL, messages BIGINT NOT NULL DEFAULT 0,
    data_bytes BIGINT NOT NULL DEFAULT 0, api_calls BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (organization_id, month)
);
CREATE INDEX IF NOT EXISTS {t["usage_months"].replace('"', "").replace(".", "_")}_month
    ON {t["usage_months"]} (month);
CREATE TABLE IF NOT EXISTS {t["usage_devices"]} (
    organization_id TEXT NOT NULL, month TEXT NOT NULL, device_id TEXT NOT NULL,
    PRIMARY KEY (organization_id, month, device_id)
);
CREATE TABLE IF NOT EXISTS {t["usage_seen"]} (event_id TEXT PRIMARY KEY, at_ms BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS {t["usage_seen"].replace('"', "").replace(".", "_")}_at ON {t["usage_seen"]} (at_ms);
CREATE TABLE IF NOT EXISTS {t["usage_reports"]} (
    organization_id TEXT NOT NULL, month TEXT NOT NULL, data_bytes BIGINT NOT NULL, messages BIGINT NOT NULL,
    devices BIGINT NOT NULL, api_calls BIGINT NOT NULL, estimated_cost DOUBLE PRECISION NOT NULL,
    currency TEXT NOT NULL, created_at_ms BIGINT NOT NULL, PRIMARY KEY (organization_id, month)
);
"""
