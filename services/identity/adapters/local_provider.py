"""The embedded IdentityProvider: argon2id password hashes in SQLite (data_dir/credentials.db) and
tokens from the LocalTokenIssuer.

Hashing and verifying take tens of milliseconds of CPU by design, so they run in a worker thread; the
SQLite statements are indexed lookups and run on the event loop (see sqlite_users.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from functools import cached_property
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.identity.adapters.local_tokens import LocalTokenIssuer
from services.identity.domain.errors import UserAlreadyExists, UserNotFound
from services.identity.domain.model import IssuedToken, Login, PublicKey
from services.kernel.caller import Role
from services.runtime.keys import LocalSigningKey
from services.runtime.sqlite import open_sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials (
    user_id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT
);
"""


class LocalIdentityProvider:
    def __init__(
        self,
        path: Path,
        key: LocalSigningKey,
        *,
        issuer: str,
        audience: str,
        token_ttl_seconds: int = 3600,
        hasher: PasswordHasher | None = None,
    ):
        self._db = open_sqlite(path, _SCHEMA)
        self._key = key
        self._issuer = LocalTokenIssuer(key, issuer=issuer, audience=audience)
        self._ttl = token_ttl_seconds
        self._hasher = hasher or PasswordHasher()

    def close(self) -> None:
        self._db.close()

    async def create_login(self, login: Login) -> str:
        try:
            self._db.execute(
                "INSERT INTO credentials (user_id, email, organization_id, role) VALUES (?, ?, ?, ?)",
                (login.user_id, login.email, login.organization_id, login.role.label),
            )
        except sqlite3.IntegrityError:
            raise UserAlreadyExists(login.email) from None
        return login.user_id

    async def set_password(self, login: Login, password: str) -> None:
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        self._update(login, "password_hash", password_hash)

    async def update_role(self, login: Login, role: Role) -> None:
        self._update(login, "role", role.label)

    async def delete_login(self, login: Login) -> None:
        self._db.execute("DELETE FROM credentials WHERE user_id = ?", (login.user_id,))

    async def sign_in(self, email: str, password: str) -> IssuedToken | None:
        row = self._db.execute(
            "SELECT user_id, organization_id, role, password_hash FROM credentials WHERE email = ?", (email,)
        ).fetchone()
        stored_hash: str | None = row[3] if row else None
        verified = await asyncio.to_thread(self._verify, stored_hash, password)
        if not verified or row is None or stored_hash is None:  # the last two only narrow the types
            return None
        login = Login(row[0], email, row[1], Role.parse(row[2]))
        if self._hasher.check_needs_rehash(stored_hash):  # the hashing parameters were raised since
            await self.set_password(login, password)
        token = self._issuer.issue(
            user_id=login.user_id,
            email=email,
            organization_id=login.organization_id,
            role=login.role,
            ttl_seconds=self._ttl,
        )
        return IssuedToken(token, self._ttl)

    async def public_keys(self) -> list[PublicKey]:
        return [PublicKey(**self._key.public_jwk)]

    def _verify(self, password_hash: str | None, password: str) -> bool:
        """Runs in a worker thread. Without a hash (unknown email, no password set) a decoy is verified, so
        response times do not tell who has an account; the answer is then always False."""
        try:
            return self._hasher.verify(password_hash or self._decoy_hash, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    @cached_property
    def _decoy_hash(self) -> str:
        return self._hasher.hash("decoy password that matches nothing")

    def _update(self, login: Login, column: str, value: str) -> None:
        # `column` is one of two literals chosen in this module, never client input.
        cursor = self._db.execute(f"UPDATE credentials SET {column} = ? WHERE user_id = ?", (value, login.user_id))
        if cursor.rowcount == 0:
            raise UserNotFound(login.user_id)
