"""Compaction of the embedded store: datapoints move from ts_recent into sorted runs, and runs merge.

Why: DuckDB skips a row group when its min/max cannot match a filter (zone maps). Datapoints arrive in time
order across all devices, so every row group of ts_recent holds every device and a device's 30-day history
would read all of them. A run is sorted by (device, metric, time): one device's month sits in a handful of
row groups. Finished UTC days move into a level-0 run (and ts_recent when it grows past RECENT_LIMIT rows);
FAN_IN runs of a level merge into one of the next level, up to MAX_LEVEL, so a month is a few runs.

Each job is cut into slices by device-key range, each slice one transaction that inserts the slice's rows in
order and deletes them from their source: at every instant a datapoint is in exactly one place, a crash
between slices loses and duplicates nothing, and writes go on between slices (the runs stay sorted because
slices are written in key order). Used from the writer's thread only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import duckdb

from services.telemetry.adapters.timeseries_duckdb import POINT_COLUMNS

log = logging.getLogger("iotmon.telemetry.store")

DAY_MS = 86_400_000
GRACE_MS = 10 * 60_000  # late readings of a finished day still land in ts_recent for this long
RECENT_LIMIT = 2_000_000  # ts_recent rows past which it is compacted up to now - GRACE_MS
FAN_IN = 8
MAX_LEVEL = 2
SLICE_ROWS = 500_000


@dataclass
class Job:
    source: str  # FROM ... WHERE ... naming the rows to move
    delete: str  # the statement removing them, completed per slice
    run: int
    level: int
    slices: list[tuple[int, int]]
    merged_runs: tuple[int, ...] = ()


@dataclass
class Compactor:
    db: duckdb.DuckDBPyConnection
    runs: dict[int, int] = field(default_factory=dict)  # run → level
    job: Job | None = None

    @classmethod
    def load(cls, db: duckdb.DuckDBPyConnection) -> Compactor:
        runs = dict(db.execute("SELECT DISTINCT run, level FROM ts_sorted").fetchall())
        return cls(db, {int(run): int(level) for run, level in runs.items()})

    def step(self, now_ms: int) -> bool:
        """Move one slice; False when there is nothing (more) to do."""
        if self.job is None:
            self.job = self._plan(now_ms)
            if self.job is None:
                return False
        job = self.job
        if job.slices:
            self._move(job, *job.slices.pop(0))
            self.runs[job.run] = job.level
        if not job.slices:
            self.job = None
            for run in job.merged_runs:
                self.runs.pop(run, None)
            self._checkpoint()
        return True

    def _checkpoint(self) -> None:
        """Rewrite the file so the row groups emptied by the job are dropped: scans of ts_recent stay short."""
        try:
            self.db.execute("CHECKPOINT")
        except duckdb.Error as error:  # a concurrent query may hold a snapshot; the next job tries again
            log.info("checkpoint after compaction skipped: %s", error)

    def _plan(self, now_ms: int) -> Job | None:
        recent_rows, oldest = self.db.execute("SELECT count(*), min(ts) FROM ts_recent").fetchall()[0]
        day_cutoff = (now_ms - GRACE_MS) // DAY_MS * DAY_MS
        cutoff = now_ms - GRACE_MS if recent_rows >= RECENT_LIMIT else day_cutoff
        if oldest is not None and oldest < cutoff:
            where = f"ts < {cutoff}"
            return self._job(f"ts_recent WHERE {where}", f"DELETE FROM ts_recent WHERE {where}", level=0)
        for level in range(MAX_LEVEL):
            runs = sorted(run for run, at in self.runs.items() if at == level)
            if len(runs) >= FAN_IN:
                where = f"run IN ({', '.join(map(str, runs))})"
                job = self._job(f"ts_sorted WHERE {where}", f"DELETE FROM ts_sorted WHERE {where}", level + 1)
                job.merged_runs = tuple(runs)
                return job
        return None

    def _job(self, source: str, delete: str, level: int) -> Job:
        counts = self.db.execute(
            f"SELECT device_key, count(*) FROM {source} GROUP BY device_key ORDER BY device_key"
        ).fetchall()
        slices: list[tuple[int, int]] = []
        first, rows = None, 0
        for key, n in counts:
            first = key if first is None else first
            rows += n
            if rows >= SLICE_ROWS:
                slices.append((first, key))
                first, rows = None, 0
        if first is not None:
            slices.append((first, counts[-1][0]))
        run = max(self.runs, default=0) + 1
        return Job(source, delete, run, level, slices)

    def _move(self, job: Job, low: int, high: int) -> None:
        keys = f"device_key BETWEEN {low} AND {high}"
        self.db.execute("BEGIN TRANSACTION")
        try:
            self.db.execute(
                f"INSERT INTO ts_sorted SELECT {job.run}, {job.level}, {POINT_COLUMNS} FROM {job.source} AND {keys} "
                "ORDER BY device_key, metric_key, ts"
            )
            self.db.execute(f"{job.delete} AND {keys}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
