"""The embedded TimeSeriesStore, the default: DuckDB in data_dir/telemetry.duckdb.

Chosen by measuring (bench/tsdb.py, this machine: 2 cores shared with other work, load average ≈ 9 during the
run; 100 devices × 30 days of 1-minute 4-metric data = 17.3 M datapoints; history = 15m average over the 30
days of one device; ingest = 500-reading batches from 1,000 devices, 10 % re-sent and 3 % late, each batch one
durable transaction, on top of the month):

    candidate                history p50 / p99     ingest readings/s (new datapoints/s)   file
    SQLite, clustered            172 /  882 ms     18,700 ( 67,000)                         477 MB
    SQLite + 15m rollup           24 /   70 ms      5,300 ( 19,000)                         531 MB
    DuckDB, arrival order        234 /  871 ms     41,200 (148,000)                         234 MB
    DuckDB, sorted runs           16 /   38 ms     32,600 (117,000)                         161 MB  <- this store

SQLite aggregates slowly (a GROUP BY over a device's 172,800 datapoints sorts them in a temp b-tree) and its
WAL logs whole pages, so a batch spread over 1,000 devices rewrites thousands of pages; a rollup fixes the
query and makes ingest slower still. DuckDB aggregates vectorised and takes Arrow batches in bulk; sorted runs
(timeseries_compaction.py) let its zone maps find one device's month in a few row groups. Costs accepted: one
process per file (DuckDB locks it; `iotmon up` runs one), and ~0.3 ms of planning per statement, which the
write path pays once or twice per group of batches.

Durability: each write is one autocommitted INSERT; DuckDB appends it to its WAL and fsyncs before the
statement returns (fsync_mode STANDARD), so what write() stored survives a process kill (the WAL is replayed on
open) and an OS crash. Tested by killing a writer process with SIGKILL.

Concurrency: writes run in one thread and are group-committed: calls arriving while a write is in progress
are stored together by the next one, each call still told its own number of new datapoints. Queries run in a
second thread on their own cursor (a snapshot), so they never wait for writes or compaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Self, TypeVar

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # no stubs

from services.telemetry.adapters.timeseries_compaction import Compactor
from services.telemetry.adapters.timeseries_duckdb import DuckdbWriter, connect
from services.telemetry.adapters.timeseries_duckdb_reader import DuckdbReader
from services.telemetry.domain.archive import DayPartition
from services.telemetry.domain.model import Reading
from services.telemetry.domain.series import DailyCount, SeriesPoint, SeriesQuery

log = logging.getLogger("iotmon.telemetry.store")

FILE_NAME = "telemetry.duckdb"
T = TypeVar("T")
Pending = tuple[Sequence[Reading], "asyncio.Future[int]"]


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class EmbeddedTimeSeriesStore:
    def __init__(
        self,
        db: duckdb.DuckDBPyConnection,
        writer: DuckdbWriter,
        reader: DuckdbReader,
        compactor: Compactor,
        *,
        now_ms: Callable[[], int],
        compaction_interval: float,
    ):
        self._db = db
        self._writer = writer
        self._reader = reader
        self._compactor = compactor
        self._now_ms = now_ms
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="timeseries-write")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="timeseries-read")
        self._pending: list[Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._compaction_lock = asyncio.Lock()
        self._compaction_loop = asyncio.create_task(self._compact_every(compaction_interval))
        self._closed = False

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        *,
        memory_limit: str = "1GB",
        compaction_interval: float = 60.0,
        now_ms: Callable[[], int] = _wall_clock_ms,
    ) -> Self:
        """Open (or create) data_dir/telemetry.duckdb; replays the WAL of a process that died."""

        def opened() -> tuple[duckdb.DuckDBPyConnection, DuckdbWriter, DuckdbReader, Compactor]:
            data_dir.mkdir(parents=True, exist_ok=True)
            db = connect(str(data_dir / FILE_NAME), memory_limit)
            writer = DuckdbWriter(db)
            return db, writer, DuckdbReader(db.cursor(), writer), Compactor.load(db)

        db, writer, reader, compactor = await asyncio.to_thread(opened)
        return cls(db, writer, reader, compactor, now_ms=now_ms, compaction_interval=compaction_interval)

    async def write(self, readings: Sequence[Reading]) -> int:
        if self._closed:
            raise RuntimeError("the time-series store is closed")
        if not readings:
            return 0
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((readings, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def query(self, query: SeriesQuery) -> list[SeriesPoint]:
        return await self._on(self._read_thread, self._reader.query, query)

    async def count(self, organization_id: str | None = None, device_id: str | None = None) -> int:
        return await self._on(self._read_thread, self._reader.count, organization_id, device_id)

    async def daily_counts(self, organization_id: str, start_ms: int, end_ms: int) -> list[DailyCount]:
        return await self._on(self._read_thread, self._reader.daily_counts, organization_id, start_ms, end_ms)

    async def archivable_days(self, before_ms: int) -> list[DayPartition]:
        return await self._on(self._read_thread, self._reader.archivable_days, before_ms)

    async def day_datapoints(self, organization_id: str, day_start_ms: int) -> pa.Table:
        return await self._on(self._read_thread, self._reader.day_datapoints, organization_id, day_start_ms)

    async def delete_datapoints(self, organization_id: str, archived: pa.Table) -> int:
        """On the writer's thread, between writes and compaction slices (a datapoint is in one table at a time)."""
        return await self._on(self._write_thread, self._writer.delete_datapoints, organization_id, archived)

    async def compact(self) -> None:
        """Do every compaction that is due now (the store also does so every `compaction_interval` seconds)."""
        async with self._compaction_lock:
            moved = False
            while await self._on(self._write_thread, self._compactor.step, self._now_ms()):
                moved = True
            if moved:
                await self._on(self._write_thread, self._writer.refresh_seen)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._compaction_loop.cancel()
        with suppress(asyncio.CancelledError):
            await self._compaction_loop
        if self._flusher is not None:
            await self._flusher
        await self._on(self._read_thread, self._reader.db.close)
        await self._on(self._write_thread, self._db.close)
        self._read_thread.shutdown()
        self._write_thread.shutdown()

    async def _flush(self) -> None:
        """Store what is pending, as one group per round, until nothing is."""
        try:
            while self._pending:
                group, self._pending = self._pending, []
                try:
                    counts = await self._on(self._write_thread, self._writer.write, [r for r, _ in group])
                except Exception as error:
                    for _, done in group:
                        if not done.done():
                            done.set_exception(error)
                else:
                    for (_, done), count in zip(group, counts, strict=True):
                        if not done.done():
                            done.set_result(count)
        finally:
            self._flusher = None

    async def _compact_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.compact()
            except Exception:
                log.exception("time-series compaction failed; retrying in %.0f s", interval)

    @staticmethod
    async def _on(thread: ThreadPoolExecutor, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(thread, function, *args)
