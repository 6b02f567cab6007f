"""open_sqlite and fetch_page on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from services.kernel.pagination import PageRequest
from services.runtime.sqlite import fetch_page, open_sqlite

SCHEMA = "CREATE TABLE things (thing_id TEXT PRIMARY KEY, owner TEXT NOT NULL, size INTEGER NOT NULL);"


def test_a_page_holds_its_slice_in_order_and_the_count_of_every_matching_row(tmp_path: Path) -> None:
    db = open_sqlite(tmp_path / "nested" / "things.db", SCHEMA)
    db.executemany("INSERT INTO things VALUES (?, ?, ?)", [(f"t{n}", "a" if n % 2 else "b", n) for n in range(7)])
    page = fetch_page(
        db,
        PageRequest(page=2, page_size=2),
        lambda row: (row[0], row[1]),
        columns="thing_id, size",
        source="FROM things WHERE owner = ?",
        parameters=("a",),
        order_by="size DESC",
    )
    # owner "a": sizes 5, 3, 1 (odd n); the second page of two holds the last one.
    assert page.items == [("t1", 1)]
    assert page.total_items == 3
    db.close()
