"""How every embedded adapter opens its SQLite file.

Queries run on the event loop: the embedded stores answer indexed lookups in microseconds, less than a hop
to a worker thread would cost. Autocommit (each statement its own transaction unless the adapter opens one),
WAL so readers never wait for a writer, and a busy timeout for the rare overlap of two processes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from services.kernel.pagination import Page, PageRequest

T = TypeVar("T")


def open_sqlite(path: Path | str, schema: str = "") -> sqlite3.Connection:
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    if schema:
        db.executescript(schema)
    return db


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The block as one transaction, begun IMMEDIATE (it takes the write lock at once, so a second process on
    the file waits instead of failing at its first write); committed at the end, rolled back when it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def fetch_page(
    db: sqlite3.Connection,
    page: PageRequest,
    convert: Callable[[Any], T],
    *,
    columns: str,
    source: str,
    parameters: Sequence[Any] = (),
    order_by: str,
) -> Page[T]:
    """One page of `SELECT columns source ORDER BY order_by`, with the count of every row `source` gives.

    `source` is `FROM table [WHERE …]`, its `?` placeholders standing for `parameters`.
    """
    (total,) = db.execute(f"SELECT count(*) {source}", parameters).fetchone()
    rows = db.execute(
        f"SELECT {columns} {source} ORDER BY {order_by} LIMIT ? OFFSET ?", (*parameters, page.page_size, page.offset)
    ).fetchall()
    return Page([convert(row) for row in rows], page, int(total))
