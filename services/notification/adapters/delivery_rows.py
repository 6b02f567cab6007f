"""The delivery log's columns and how a row becomes a Delivery, shared by the SQLite and PostgreSQL logs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from services.notification.domain.model import Channel, Delivery, DeliveryFilter, DeliveryStatus

COLUMNS = (
    "delivery_id, alert_id, organization_id, user_id, channel, target, status, created_at, attempts, error, "
    "retryable, sent_at, owner, lease_until, claim_token, content, handed_over_at"
)
COLUMN_NAMES = tuple(c.strip() for c in COLUMNS.split(","))


def table_sql(table: str, *, prefix: str = "", timestamp: str, boolean: str) -> str:
    """CREATE … IF NOT EXISTS for the log (COLUMNS in order) and its index, with the database's own types for
    timestamps and booleans; `prefix` goes before the table name (a schema)."""
    return f"""
CREATE TABLE IF NOT EXISTS {prefix}{table} (
    delivery_id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at {timestamp} NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    retryable {boolean} NOT NULL,
    sent_at {timestamp},
    owner TEXT NOT NULL,
    lease_until {timestamp},
    claim_token TEXT NOT NULL,
    content TEXT NOT NULL,
    handed_over_at {timestamp},
    UNIQUE (alert_id, user_id, channel, target)
);
CREATE INDEX IF NOT EXISTS {table}_newest ON {prefix}{table} (organization_id, created_at, delivery_id);
"""


def delivery_values(d: Delivery, *, when: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    """The row's values in COLUMNS order; `when` stores a timestamp the way the database wants it."""
    return (
        d.delivery_id,
        d.alert_id,
        d.organization_id,
        d.user_id,
        d.channel.value,
        d.target,
        d.status.value,
        when(d.created_at),
        d.attempts,
        d.error,
        d.retryable,
        when(d.sent_at),
        d.owner,
        when(d.lease_until),
        d.claim_token,
        d.content,
        when(d.handed_over_at),
    )


def delivery_from_row(row: Mapping[str, Any], *, read_time: Callable[[Any], datetime | None]) -> Delivery:
    created_at = read_time(row["created_at"])
    assert created_at is not None
    return Delivery(
        delivery_id=row["delivery_id"],
        alert_id=row["alert_id"],
        organization_id=row["organization_id"],
        user_id=row["user_id"],
        channel=Channel(row["channel"]),
        target=row["target"],
        status=DeliveryStatus(row["status"]),
        created_at=created_at,
        attempts=int(row["attempts"]),
        error=row["error"],
        retryable=bool(row["retryable"]),
        sent_at=read_time(row["sent_at"]),
        owner=row["owner"],
        lease_until=read_time(row["lease_until"]),
        claim_token=row["claim_token"],
        content=row["content"],
        handed_over_at=read_time(row["handed_over_at"]),
    )


def where_clause(where: DeliveryFilter, placeholder: Callable[[int], str]) -> tuple[str, list[Any]]:
    """`WHERE …` for the filter, with numbered placeholders (`?` for SQLite, `$n` for PostgreSQL)."""
    conditions: list[str] = []
    parameters: list[Any] = []
    for column, value in (
        ("organization_id", where.organization_id),
        ("alert_id", where.alert_id),
        ("channel", where.channel.value if where.channel else None),
        ("status", where.status.value if where.status else None),
    ):
        if value is not None:
            parameters.append(value)
            conditions.append(f"{column} = {placeholder(len(parameters))}")
    return "WHERE " + " AND ".join(conditions), parameters


def iso_utc(value: datetime | None) -> str | None:
    """UTC with a fixed width, so that stored timestamps sort as strings in time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value is not None else None


def from_iso(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
