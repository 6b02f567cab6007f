"""Spec §6.1, data archival: readings older than the retention period become Parquet files in the object store,
one per organization and UTC day, and leave the hot store only once their file is written and verified.

Safe to run twice or to kill at any point (docs/jobs.md):
1. the day's datapoints are read from the store;
2. when the day's file exists (a run killed after writing it), its rows are merged with the store's; a file
   that holds them all already is not rewritten;
3. the file is written — atomically: the object store shows the old object or the whole new one — then read
   back and verified (SHA-256 of the bytes, row count and a digest of the rows);
4. only then are exactly the archived datapoints deleted from the store (by device, metric and time, so a
   datapoint stored meanwhile is never deleted unarchived).
A kill before 4 leaves the rows in the store and a verified file; the next run finds the file holds them and
deletes them. Nothing is ever deleted before a verified file holds it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import pyarrow as pa  # type: ignore[import-untyped]  # no stubs

from services.runtime.jobs import ArchiveNotVerified, JobStep, read_object, wall_clock_ms, write_verified
from services.runtime.objects import ObjectStore
from services.telemetry.adapters.archive_parquet import CONTENT_TYPE, content_digest, decode, encode, holds_all, union
from services.telemetry.domain.archive import DayPartition, archive_cutoff_ms, archive_key, day_text
from services.telemetry.ports import TimeSeriesStore

__all__ = ["ArchiveNotVerified", "JobStep", "ReadingsArchival"]

log = logging.getLogger("iotmon.telemetry.archival")


class ReadingsArchival:
    def __init__(
        self,
        store: TimeSeriesStore,
        objects: ObjectStore,
        retention_days: float,
        now_ms: Callable[[], int] = wall_clock_ms,
    ):
        self._store = store
        self._objects = objects
        self._retention_days = retention_days
        self._now_ms = now_ms

    async def run(self, retention_days: float | None = None) -> AsyncIterator[JobStep]:
        """Archive every due day, oldest first, telling each step."""
        cutoff = archive_cutoff_ms(self._now_ms(), retention_days or self._retention_days)
        days = await self._store.archivable_days(cutoff)
        counters = {"days": 0.0, "filesWritten": 0.0, "filesReused": 0.0, "rowsArchived": 0.0, "rowsDeleted": 0.0}
        yield JobStep(f"{len(days)} organization-days before {day_text(cutoff)}", 0, len(days), dict(counters))
        for done, day in enumerate(days, start=1):
            written, rows, deleted = await self.archive_day(day)
            counters["days"] += 1
            counters["filesWritten" if written else "filesReused"] += 1
            counters["rowsArchived"] += rows
            counters["rowsDeleted"] += deleted
            stage = f"{day.organization_id} {day_text(day.day_start_ms)}"
            yield JobStep(stage, done, len(days), dict(counters))
        log.info("archival done", extra={"counters": counters, "cutoff": day_text(cutoff)})
        yield JobStep("done", len(days), len(days), dict(counters), finished=True)

    async def archive_day(self, day: DayPartition) -> tuple[bool, int, int]:
        """(whether a file was written, rows in the store archived, rows deleted) for one organization's day."""
        key = archive_key(day.organization_id, day.day_start_ms)
        fresh = await self._store.day_datapoints(day.organization_id, day.day_start_ms)
        existing = await self._read(key)
        written = existing is None or not holds_all(existing, fresh)
        if written:
            table = fresh if existing is None else union(existing, fresh)
            await self._write_verified(key, table)
        deleted = await self._store.delete_datapoints(day.organization_id, fresh)
        return written, fresh.num_rows, deleted

    async def _write_verified(self, key: str, table: pa.Table) -> None:
        def problems_in(stored: bytes) -> list[str]:
            back = decode(stored)
            if back.num_rows != table.num_rows:
                return [f"{back.num_rows} rows read back, {table.num_rows} written"]
            if content_digest(back) != content_digest(table):
                return ["rows read back differ from the rows written"]
            return []

        await write_verified(self._objects, key, encode(table), content_type=CONTENT_TYPE, problems_in=problems_in)

    async def _read(self, key: str) -> pa.Table | None:
        if not await self._objects.exists(key):
            return None
        return decode(await read_object(self._objects, key))
