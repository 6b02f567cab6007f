"""The SQLite layout of the device repository, and bringing a file written by an earlier release up to it."""

from __future__ import annotations

import sqlite3

TABLES = """
CREATE TABLE IF NOT EXISTS devices (
    organization_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    status TEXT NOT NULL,
    device_type TEXT NOT NULL,
    serial_number TEXT,
    name_key TEXT NOT NULL,
    address_key TEXT,
    last_seen TEXT,
    tags TEXT NOT NULL,
    -- The registration document (adapters/records.py); the state document (adapters/state_records.py).
    document TEXT NOT NULL,
    heartbeat_at TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    state TEXT,
    PRIMARY KEY (organization_id, device_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS device_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    change_id TEXT NOT NULL UNIQUE,
    changed_at TEXT NOT NULL,
    document TEXT NOT NULL
);
"""

# Columns added after the first release, with how existing rows get their value. Rows without a state keep
# it in their document (state_records reads that form); the heartbeat of an online one is its last reading.
ADDED_COLUMNS = {
    "heartbeat_at": (
        "TEXT",
        "UPDATE devices SET heartbeat_at = COALESCE(last_seen, json_extract(document, '$.updatedAt')) "
        "WHERE status = 'online'",
    ),
    "revision": ("INTEGER NOT NULL DEFAULT 0", None),
    "state": ("TEXT", None),
}

INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS devices_live_serial ON devices (organization_id, serial_number)
    WHERE serial_number IS NOT NULL AND status <> 'deleted';
CREATE INDEX IF NOT EXISTS devices_by_name ON devices (organization_id, name_key);
CREATE INDEX IF NOT EXISTS devices_by_last_seen ON devices (organization_id, last_seen);
-- Device ids are globally unique: platform services look devices up without knowing the organization.
CREATE INDEX IF NOT EXISTS devices_by_id ON devices (device_id);
-- Only online devices, ordered by their last sign of life: the heartbeat sweep reads the silent end of it.
CREATE INDEX IF NOT EXISTS devices_silent ON devices (heartbeat_at) WHERE status = 'online';
CREATE INDEX IF NOT EXISTS device_changes_by_device ON device_changes (organization_id, device_id, changed_at, seq);
"""

# A device is its registration document plus its state (NULL in rows of the first release).
DEVICE = "document, state"
# The state alone; a first-release row has it inside its document.
STATE = "organization_id, device_id, COALESCE(state, document)"

# The queries platform services run across organizations, each answered from its own index.
BY_IDS_SQL = f"SELECT {DEVICE} FROM devices WHERE device_id IN ({{marks}})"
STATES_BY_IDS_SQL = f"SELECT {STATE} FROM devices WHERE device_id IN ({{marks}})"
SILENT_SQL = (
    f"SELECT {STATE} FROM devices WHERE status = 'online' AND heartbeat_at < ? ORDER BY heartbeat_at, device_id LIMIT ?"
)

INSERT_SQL = (
    "INSERT INTO devices (organization_id, device_id, status, device_type, serial_number, name_key, address_key, "
    "last_seen, heartbeat_at, tags, document, state, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UPDATE_SQL = (
    "UPDATE devices SET status = ?, device_type = ?, serial_number = ?, name_key = ?, address_key = ?, "
    "last_seen = ?, heartbeat_at = ?, tags = ?, document = ?, state = ?, revision = ? "
    "WHERE organization_id = ? AND device_id = ? AND revision = ?"
)
# The hot path: the registration columns, their indexes and the registration document stay untouched.
UPDATE_STATE_SQL = (
    "UPDATE devices SET status = ?, last_seen = ?, heartbeat_at = ?, state = ?, revision = ? "
    "WHERE organization_id = ? AND device_id = ? AND revision = ?"
)


def prepare(db: sqlite3.Connection) -> None:
    """Create what is missing: tables, columns added since the first release (filled in), indexes."""
    db.executescript(TABLES)
    present = {row[1] for row in db.execute("PRAGMA table_info(devices)")}
    for column, (declaration, backfill) in ADDED_COLUMNS.items():
        if column in present:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(f"ALTER TABLE devices ADD COLUMN {column} {declaration}")
            if backfill is not None:
                db.execute(backfill)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    db.executescript(INDEXES)
