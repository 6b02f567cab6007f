"""Dead letters as table rows: one column order, encoding and filter for both SQL stores."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from services.telemetry.domain.model import DeadLetter, RejectReason, Source

COLUMNS = "dead_letter_id, organization_id, device_id, reason, message, source, received_at_ms, record"


def letter_row(letter: DeadLetter) -> tuple[Any, ...]:
    return (
        letter.dead_letter_id,
        letter.organization_id,
        letter.device_id,
        letter.reason.value,
        letter.message,
        letter.source.value,
        letter.received_at_ms,
        orjson.dumps(letter.record).decode(),
    )


def letter_from_row(row: Iterable[Any]) -> DeadLetter:
    """A row selected as COLUMNS (sqlite3 tuples and asyncpg records alike)."""
    dead_letter_id, organization_id, device_id, reason, message, source, received_at_ms, record = row
    return DeadLetter(
        dead_letter_id=dead_letter_id,
        record=orjson.loads(record),
        reason=RejectReason(reason),
        message=message,
        source=Source(source),
        received_at_ms=int(received_at_ms),
        organization_id=organization_id,
        device_id=device_id,
    )


def where_clause(
    organization_id: str | None,
    device_id: str | None,
    reason: RejectReason | None,
    placeholder: Callable[[int], str],
) -> tuple[str, list[Any]]:
    """WHERE for the filters given; `placeholder(n)` spells the n-th parameter (`?` or `$n`)."""
    clauses: list[str] = []
    parameters: list[Any] = []
    for column, value in (("organization_id", organization_id), ("device_id", device_id), ("reason", reason)):
        if value is not None:
            parameters.append(str(value))
            clauses.append(f"{column} = {placeholder(len(parameters))}")
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), parameters
