"""The alerting tables, one description for SQLite and PostgreSQL: the same columns (rows.py reads them in
this order) and indexes; only the column types differ between the two."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ColumnTypes:
    integer: str  # milliseconds since the epoch
    real: str
    boolean: str
    json: str


SQLITE_TYPES = ColumnTypes(integer="INTEGER", real="REAL", boolean="INTEGER", json="TEXT")
POSTGRES_TYPES = ColumnTypes(integer="BIGINT", real="DOUBLE PRECISION", boolean="BOOLEAN", json="JSONB")


def tables_sql(types: ColumnTypes, prefix: str = "") -> str:
    """CREATE … IF NOT EXISTS for both tables; `prefix` goes before the table names (a schema)."""
    t = types
    return f"""
CREATE TABLE IF NOT EXISTS {prefix}alert_rules (
    rule_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    device_type TEXT NOT NULL,
    severity TEXT NOT NULL,
    enabled {t.boolean} NOT NULL,
    deleted_at_ms {t.integer},
    created_at_ms {t.integer} NOT NULL,
    updated_at_ms {t.integer} NOT NULL,
    body {t.json} NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_rules_by_org ON {prefix}alert_rules (organization_id, created_at_ms);
CREATE TABLE IF NOT EXISTS {prefix}alerts (
    alert_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    device_id TEXT NOT NULL,
    device_name TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    condition TEXT NOT NULL,
    actual_value {t.real} NOT NULL,
    threshold {t.real} NOT NULL,
    triggered_at_ms {t.integer} NOT NULL,
    acknowledged_at_ms {t.integer},
    acknowledged_by_id TEXT,
    acknowledged_by_name TEXT,
    resolved_at_ms {t.integer},
    resolved_by_id TEXT,
    resolved_by_name TEXT,
    resolution TEXT,
    prevention_notes TEXT,
    notifications_sent {t.json} NOT NULL DEFAULT '[]',
    comments {t.json} NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS alerts_by_org_time ON {prefix}alerts (organization_id, triggered_at_ms, alert_id);
CREATE INDEX IF NOT EXISTS alerts_by_org_status ON {prefix}alerts (organization_id, status, triggered_at_ms);
CREATE INDEX IF NOT EXISTS alerts_by_rule_device ON {prefix}alerts (rule_id, device_id, triggered_at_ms);
CREATE INDEX IF NOT EXISTS alerts_by_device_status ON {prefix}alerts (device_id, status);
CREATE INDEX IF NOT EXISTS alerts_resolved ON {prefix}alerts (resolved_at_ms) WHERE status = 'resolved';
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON {prefix}alerts (rule_id, device_id) WHERE status != 'resolved';
"""
