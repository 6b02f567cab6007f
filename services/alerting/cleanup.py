"""Spec §6.2: resolved alerts older than the configured age (90 days) are archived to the shared object store
as JSON Lines, verified, and only then deleted. Run by `iotmon job cleanup` (the internal
ArchiveResolvedAlerts RPC streams its progress) and once a day by the service itself.

Safe to run twice or to kill at any point (docs/jobs.md):
1. the oldest due alerts are read from the store, a batch at a time, and split per organization and day of
   resolution (domain/archive.py);
2. each part's file is written — merged with the file already at its key, when a killed run left one — with
   an atomic write (the object store shows the old object or the whole new one);
3. the file is read back and verified: SHA-256 of the bytes, its line count, and that it holds every alert
   of the part;
4. only then are exactly those alerts deleted (and only while resolved).
Nothing is deleted that a verified file does not hold; a rerun after a kill rewrites the same key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from services.alerting.adapters.archive_jsonl import CONTENT_TYPE, encode, lines_by_id, merged
from services.alerting.domain.archive import ArchiveBatch, batches, cleanup_cutoff_ms, day_text
from services.alerting.ports import AlertStore
from services.runtime.jobs import ArchiveNotVerified, JobStep, read_object, wall_clock_ms, write_verified
from services.runtime.objects import ObjectStore

__all__ = ["ArchiveNotVerified", "JobStep", "ResolvedAlertsArchive", "ResolvedAlertsCleanup"]

log = logging.getLogger("iotmon.alerting.cleanup")

BATCH = 500


class ResolvedAlertsArchive:
    def __init__(
        self,
        store: AlertStore,
        objects: ObjectStore,
        older_than_days: float,
        now_ms: Callable[[], int] = wall_clock_ms,
        batch: int = BATCH,
    ):
        self._store = store
        self._objects = objects
        self._older_than_days = older_than_days
        self._now_ms = now_ms
        self._batch = batch
        # The daily loop and a job's RPC may meet in one process: one run at a time.
        self._running = asyncio.Lock()

    async def run(self, older_than_days: float | None = None) -> AsyncIterator[JobStep]:
        """Archive then delete every due alert, oldest first, telling each file."""
        async with self._running:
            cutoff = cleanup_cutoff_ms(self._now_ms(), older_than_days or self._older_than_days)
            counters = {"alertsArchived": 0.0, "alertsDeleted": 0.0, "filesWritten": 0.0}
            yield JobStep(f"alerts resolved before {day_text(cutoff)}", 0, 0, dict(counters))
            done = 0
            while alerts := await self._store.resolved_before(cutoff, self._batch):
                deleted_now = 0
                for part in batches(alerts):
                    await self._write_verified(part)
                    deleted = await self._store.delete_resolved(part.alert_ids)
                    deleted_now += deleted
                    done += len(part.alerts)
                    counters["filesWritten"] += 1
                    counters["alertsArchived"] += len(part.alerts)
                    counters["alertsDeleted"] += deleted
                    yield JobStep(f"{part.organization_id} {part.day}", done, 0, dict(counters))
                if deleted_now == 0:  # a store that lists what it cannot delete must not loop forever
                    log.warning("archived alerts were not deleted; stopping this run", extra={"cutoff": cutoff})
                    break
            log.info("resolved alerts archived and deleted", extra={"counters": counters, "cutoff": day_text(cutoff)})
            yield JobStep("done", done, done, dict(counters), finished=True)

    async def _write_verified(self, part: ArchiveBatch) -> None:
        key = part.key
        existing = lines_by_id(await read_object(self._objects, key)) if await self._objects.exists(key) else {}
        lines = merged(existing, part.alerts)

        def problems_in(stored: bytes) -> list[str]:
            problems = []
            back = lines_by_id(stored)
            if len(back) != len(lines) or stored.count(b"\n") != len(lines):
                problems.append(f"{len(back)} alerts read back, {len(lines)} written")
            missing = set(part.alert_ids) - back.keys()
            if missing:
                problems.append(f"{len(missing)} alerts of the batch missing")
            return problems

        await write_verified(self._objects, key, encode(lines), content_type=CONTENT_TYPE, problems_in=problems_in)


class ResolvedAlertsCleanup:
    """The service's own daily round of the archiving cleanup (for deployments without the scheduled job)."""

    def __init__(self, archive: ResolvedAlertsArchive, interval_seconds: float):
        self._archive = archive
        self._interval = interval_seconds

    async def run_once(self) -> float:
        """How many alerts were deleted."""
        deleted = 0.0
        async for step in self._archive.run():
            deleted = step.counters.get("alertsDeleted", deleted)
        return deleted

    async def run(self) -> None:
        """Clean at start, then every interval; a failed round is logged and the next one tries again."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("archiving old resolved alerts failed; trying again next round")
            await asyncio.sleep(self._interval)
