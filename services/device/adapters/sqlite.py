"""The embedded DeviceRepository: one SQLite file (data_dir/devices.db) in WAL mode; layout in sqlite_schema.

Queries run synchronously on the event loop on purpose: each is a short indexed lookup that takes tens of
microseconds, less than the hop to a worker thread would cost, and one connection used from one thread
needs no locking. Filters, sorting and pagination happen in SQL; the unique partial index on
(organization_id, serial_number) among live devices is what settles concurrent registrations.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import orjson

from services.device.adapters import sqlite_schema as schema
from services.device.adapters.records import change_from_json, change_to_json, device_from_json, device_to_json
from services.device.adapters.state_records import state_from_json, state_to_json
from services.device.domain.errors import DeviceAlreadyExists, DeviceChangedConcurrently
from services.device.domain.listing import DeviceFilters, DeviceQuery, SortField, SortOrder, instant_key, text_key
from services.device.domain.model import Device, DeviceChange, DeviceState, DeviceStatus
from services.kernel.pagination import Page, PageRequest
from services.runtime.sqlite import fetch_page, open_sqlite

_ORDER = {
    SortField.NAME: "name_key {dir}, device_id ASC",
    SortField.STATUS: "status {dir}, device_id ASC",
    # Never-seen devices go last in both directions, as listing.sort_devices orders them.
    SortField.LAST_SEEN: "last_seen IS NULL, last_seen {dir}, device_id ASC",
}
DEVICE = schema.DEVICE


class SqliteDeviceRepository:
    def __init__(self, path: Path | str):
        self._db = open_sqlite(path)
        schema.prepare(self._db)

    def close(self) -> None:
        self._db.close()

    async def add(self, device: Device) -> None:
        with self._unique_serial(device):
            self._db.execute(
                schema.INSERT_SQL, (device.organization_id, device.device_id, *_row(device), device.revision)
            )

    async def get(self, organization_id: str, device_id: str) -> Device | None:
        row = self._db.execute(
            f"SELECT {DEVICE} FROM devices WHERE organization_id = ? AND device_id = ?", (organization_id, device_id)
        ).fetchone()
        return device_from_json(*row) if row else None

    async def get_many(self, organization_id: str, device_ids: Sequence[str]) -> list[Device]:
        ids = list(dict.fromkeys(device_ids))
        if not ids:
            return []
        rows = self._db.execute(
            f"SELECT {DEVICE} FROM devices WHERE organization_id = ? AND device_id IN ({_marks(ids)})",
            (organization_id, *ids),
        ).fetchall()
        return [device_from_json(*r) for r in rows]

    async def get_many_across_organizations(self, device_ids: Sequence[str]) -> list[Device]:
        ids = list(dict.fromkeys(device_ids))
        if not ids:
            return []
        rows = self._db.execute(schema.BY_IDS_SQL.format(marks=_marks(ids)), ids).fetchall()
        return [device_from_json(*r) for r in rows]

    async def get_states(self, device_ids: Sequence[str]) -> list[DeviceState]:
        ids = list(dict.fromkeys(device_ids))
        if not ids:
            return []
        rows = self._db.execute(schema.STATES_BY_IDS_SQL.format(marks=_marks(ids)), ids).fetchall()
        return [state_from_json(state, device_id, organization_id) for organization_id, device_id, state in rows]

    async def find_silent(self, silent_since: datetime, limit: int) -> list[DeviceState]:
        rows = self._db.execute(schema.SILENT_SQL, (instant_key(silent_since), limit)).fetchall()
        return [state_from_json(state, device_id, organization_id) for organization_id, device_id, state in rows]

    async def find_by_serial(self, organization_id: str, serial_number: str) -> Device | None:
        row = self._db.execute(
            f"SELECT {DEVICE} FROM devices WHERE organization_id = ? AND serial_number = ? AND status <> ?",
            (organization_id, serial_number, DeviceStatus.DELETED.value),
        ).fetchone()
        return device_from_json(*row) if row else None

    async def list_devices(self, organization_id: str, query: DeviceQuery) -> Page[Device]:
        where, params = _where(organization_id, query.filters)
        direction = "DESC" if query.sort_order is SortOrder.DESC else "ASC"
        return fetch_page(
            self._db,
            query.page,
            lambda row: device_from_json(*row),
            columns=DEVICE,
            source=f"FROM devices WHERE {where}",
            parameters=params,
            order_by=_ORDER[query.sort_field].format(dir=direction),
        )

    async def save(self, device: Device, *, previous: Device, change: DeviceChange | None = None) -> None:
        revision = previous.revision + 1
        key = (device.organization_id, device.device_id, previous.revision)
        with self._unique_serial(device), self._transaction():
            if self._db.execute(schema.UPDATE_SQL, (*_row(device, revision), revision, *key)).rowcount != 1:
                raise self._refusal(previous)
            if change is not None:
                self._db.execute(
                    "INSERT INTO device_changes (organization_id, device_id, change_id, changed_at, document) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        change.organization_id,
                        change.device_id,
                        change.change_id,
                        instant_key(change.changed_at),
                        change_to_json(change).decode(),
                    ),
                )

    async def save_states(self, updates: Sequence[tuple[DeviceState, DeviceState]]) -> set[str]:
        conflicted: set[str] = set()
        # One transaction for the whole batch: one commit instead of one per device.
        with self._transaction():
            for state, previous in updates:
                revision = previous.revision + 1
                row = (
                    state.status.value,
                    instant_key(state.last_seen) if state.last_seen else None,
                    instant_key(state.heartbeat_at) if state.heartbeat_at else None,
                    state_to_json(state, revision).decode(),
                    revision,
                    state.organization_id,
                    state.device_id,
                    previous.revision,
                )
                if self._db.execute(schema.UPDATE_STATE_SQL, row).rowcount != 1:
                    conflicted.add(state.device_id)
        return conflicted

    def _refusal(self, previous: Device) -> Exception:
        exists = self._db.execute(
            "SELECT 1 FROM devices WHERE organization_id = ? AND device_id = ?",
            (previous.organization_id, previous.device_id),
        ).fetchone()
        if exists is None:
            return KeyError(f"device {previous.device_id} is not stored")
        return DeviceChangedConcurrently(previous.device_id)

    async def list_changes(self, organization_id: str, device_id: str, page: PageRequest) -> Page[DeviceChange]:
        return fetch_page(
            self._db,
            page,
            lambda row: change_from_json(row[0]),
            columns="document",
            source="FROM device_changes WHERE organization_id = ? AND device_id = ?",
            parameters=(organization_id, device_id),
            order_by="changed_at DESC, seq DESC",
        )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _unique_serial(self, device: Device) -> Iterator[None]:
        """Turn the unique index's refusal into the domain's 409, naming the device holding the serial."""
        try:
            yield
        except sqlite3.IntegrityError:
            serial = device.serial_number
            holder = self._holder_of(device.organization_id, serial) if serial else None
            if serial is None or holder is None or holder == device.device_id:
                raise
            raise DeviceAlreadyExists(serial, holder) from None

    def _holder_of(self, organization_id: str, serial_number: str) -> str | None:
        row = self._db.execute(
            "SELECT device_id FROM devices WHERE organization_id = ? AND serial_number = ? AND status <> ?",
            (organization_id, serial_number, DeviceStatus.DELETED.value),
        ).fetchone()
        return str(row[0]) if row else None


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


def _row(device: Device, revision: int | None = None) -> tuple[object, ...]:
    """The indexed columns (filtering and sorting happen on them), then the two documents."""
    address = device.location.address if device.location else None
    return (
        device.status.value,
        device.device_type,
        device.serial_number,
        text_key(device.name),
        text_key(address) if address is not None else None,
        instant_key(device.last_seen) if device.last_seen else None,
        instant_key(device.heartbeat_at) if device.heartbeat_at else None,
        orjson.dumps(list(device.tags)).decode(),
        device_to_json(device).decode(),
        state_to_json(device.state, revision).decode(),
    )


def _where(organization_id: str, filters: DeviceFilters) -> tuple[str, list[object]]:
    clauses = ["organization_id = ?", "status <> ?"]
    params: list[object] = [organization_id, DeviceStatus.DELETED.value]
    if filters.status is not None:
        clauses.append("status = ?")
        params.append(filters.status.value)
    if filters.device_type is not None:
        clauses.append("device_type = ?")
        params.append(filters.device_type)
    if filters.location is not None:
        # instr rather than LIKE: the user's text is matched literally, % and _ included.
        clauses.append("instr(address_key, ?) > 0")
        params.append(text_key(filters.location))
    if filters.tags:
        marks = ", ".join("?" * len(filters.tags))
        clauses.append(f"(SELECT COUNT(DISTINCT value) FROM json_each(devices.tags) WHERE value IN ({marks})) = ?")
        params.extend([*filters.tags, len(filters.tags)])
    return " AND ".join(clauses), params
