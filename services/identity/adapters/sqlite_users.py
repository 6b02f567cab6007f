"""The embedded UserRepository: one SQLite file (data_dir/identity.db).

Queries run on the event loop with the stdlib driver: each is a primary-key or indexed lookup that takes
microseconds, cheaper than the hop to a worker thread, and the connection is used by this loop only.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from services.identity.adapters.records import timestamp, user_from_record, user_to_record
from services.identity.domain.errors import UserAlreadyExists, UserNotFound
from services.identity.domain.model import User
from services.kernel.caller import Role
from services.kernel.pagination import Page, PageRequest
from services.runtime.sqlite import fetch_page, open_sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS users_by_organization ON users (organization_id, role, created_at, user_id);
"""


class SqliteUserRepository:
    def __init__(self, path: Path):
        self._db = open_sqlite(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    async def add(self, user: User) -> None:
        try:
            self._db.execute(
                "INSERT INTO users (user_id, email, organization_id, role, created_at, document)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    user.user_id,
                    user.email,
                    user.organization_id,
                    user.role.label,
                    timestamp(user.created_at),
                    _doc(user),
                ),
            )
        except sqlite3.IntegrityError:
            # Either the email or the (random, 60-bit) id is taken; the email is by far the likelier.
            raise UserAlreadyExists(user.email) from None

    async def save(self, user: User) -> None:
        # The email is immutable, so only the columns that can change are rewritten.
        cursor = self._db.execute(
            "UPDATE users SET role = ?, document = ? WHERE user_id = ?",
            (user.role.label, _doc(user), user.user_id),
        )
        if cursor.rowcount == 0:
            raise UserNotFound(user.user_id)

    async def get(self, user_id: str) -> User | None:
        return self._one("SELECT document FROM users WHERE user_id = ?", user_id)

    async def get_by_email(self, email: str) -> User | None:
        return self._one("SELECT document FROM users WHERE email = ?", email)

    async def list(self, organization_id: str, role: Role | None, page: PageRequest) -> Page[User]:
        where, params = "organization_id = ?", [organization_id]
        if role is not None:
            where += " AND role = ?"
            params.append(role.label)
        return fetch_page(
            self._db,
            page,
            lambda row: user_from_record(json.loads(row[0])),
            columns="document",
            source=f"FROM users WHERE {where}",
            parameters=params,
            order_by="created_at, user_id",
        )

    def _one(self, query: str, key: str) -> User | None:
        row = self._db.execute(query, (key,)).fetchone()
        return user_from_record(json.loads(row[0])) if row else None


def _doc(user: User) -> str:
    return json.dumps(user_to_record(user), separators=(",", ":"))
