"""What the telemetry domain needs from the outside world."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Protocol

import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; archived days travel as Arrow tables

from services.kernel.pagination import Page, PageRequest
from services.telemetry.domain.archive import DayPartition
from services.telemetry.domain.model import (
    BatchResult,
    DeadLetter,
    DeviceActivity,
    DeviceInfo,
    RawRecord,
    Reading,
    RejectReason,
)
from services.telemetry.domain.series import DailyCount, SeriesPoint, SeriesQuery


class TimeSeriesStore(Protocol):
    """Datapoints identified by (device, timestamp, metric); writing one twice changes nothing."""

    async def write(self, readings: Sequence[Reading]) -> int:
        """Store every metric of every reading durably before returning; the number of new datapoints."""
        ...

    async def query(self, query: SeriesQuery) -> list[SeriesPoint]:
        """Raw datapoints or bucketed aggregates, computed by the store, ordered by device, metric, time."""
        ...

    async def count(self, organization_id: str | None = None, device_id: str | None = None) -> int:
        """How many datapoints are stored (tests, health checks, usage reports)."""
        ...

    async def daily_counts(self, organization_id: str, start_ms: int, end_ms: int) -> list[DailyCount]:
        """Datapoints of the organization in [start_ms, end_ms) per UTC day, counted by the store; only days that
        have some, oldest first (analytics reconciles its data volume from them)."""
        ...

    # Archival (spec §6.1, services/telemetry/archival.py).

    async def archivable_days(self, before_ms: int) -> list[DayPartition]:
        """Every (organization, UTC day) holding datapoints before `before_ms` (a day start), oldest first."""
        ...

    async def day_datapoints(self, organization_id: str, day_start_ms: int) -> pa.Table:
        """The organization's datapoints of one UTC day as an archive table (adapters/archive_table.py)."""
        ...

    async def delete_datapoints(self, organization_id: str, archived: pa.Table) -> int:
        """Delete exactly these datapoints (by device, metric and time) of the organization; how many were."""
        ...

    async def close(self) -> None: ...


class DeadLetterStore(Protocol):
    async def add(self, letters: Sequence[DeadLetter]) -> None: ...

    async def page(
        self,
        organization_id: str | None,
        page: PageRequest,
        *,
        device_id: str | None = None,
        reason: RejectReason | None = None,
    ) -> Page[DeadLetter]:
        """Newest first; organization_id None lists every organization's (service principals)."""
        ...

    async def oldest(
        self,
        organization_id: str | None,
        limit: int,
        *,
        device_id: str | None = None,
        reason: RejectReason | None = None,
    ) -> list[DeadLetter]: ...

    async def remove(self, dead_letter_ids: Collection[str]) -> None: ...

    async def close(self) -> None: ...


class DeviceDirectory(Protocol):
    """Devices by id, of any organization, deleted ones included (the device service, cached)."""

    async def lookup(self, device_ids: Collection[str]) -> dict[str, DeviceInfo]: ...


class DeviceActivitySink(Protocol):
    """Tells the device service about lastSeen/lastReading and per-batch counts, one call per batch."""

    async def record(self, activities: Sequence[DeviceActivity]) -> None: ...


class TelemetryEvents(Protocol):
    async def readings_stored(self, readings: Sequence[Reading]) -> None: ...

    async def anomaly_detected(self, reading: Reading, metric: str, score: float) -> None: ...


# The pipeline's entry point: every source hands it a batch and acknowledges upstream (MQTT PUBACK, Kinesis
# checkpoint) only after it returned — by then each record is stored or dead-lettered.
Ingest = Callable[[Sequence[RawRecord]], Awaitable[BatchResult]]


class TelemetrySource(Protocol):
    """A long-running consumer (MQTT subscription, Kinesis stream) feeding the pipeline in batches."""

    async def run(self, ingest: Ingest) -> None:
        """Consume until cancelled; on cancellation stop taking new records and return."""
        ...
