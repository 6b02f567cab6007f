"""The outside things the analytics use cases need, one Protocol each; adapters/ implements them."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.analytics.domain.dashboard import StoredNumbers
from services.analytics.domain.documents import AlertCount, ReportDocument
from services.analytics.domain.facts import AlertFact, DeviceFact
from services.analytics.domain.jobs import Job, JobKind
from services.analytics.domain.query import QueryPlan, SeriesData
from services.analytics.domain.requests import ExportSpec


@dataclass(frozen=True)
class DeviceSnapshot:
    device_id: str
    name: str
    status: str
    registered_at_ms: int | None
    metrics: tuple[str, ...]  # of its last reading: what to count its hours by
    uptime_24h: float | None


@dataclass(frozen=True)
class ReadingBatch:
    timestamps_ms: Sequence[int]
    device_ids: Sequence[str]
    metrics: Sequence[str]
    values: Sequence[float]


class CounterStore(Protocol):
    """Per-organization counters kept from events: devices by status, active alerts by severity, bytes per day,
    and a daily snapshot of devices online and active alerts (the trends' baseline)."""

    async def apply_devices(self, facts: Sequence[DeviceFact], day: str) -> None:
        """Record each fact unless an newer one is stored, adjusting the counters and the snapshot of `day`,
        atomically (a fact applied twice changes nothing)."""
        ...

    async def apply_alerts(self, facts: Sequence[AlertFact], day: str) -> None:
        """As apply_devices: an alert counts from its first active fact until its first inactive one."""
        ...

    async def live_device_ids(self, organization_id: str) -> set[str]:
        """Devices of the organization stored with a status other than deleted."""
        ...

    async def active_alert_ids(self, organization_id: str) -> set[str]: ...

    async def add_volume(self, event_id: str, organization_id: str, bytes_by_day: Mapping[str, int]) -> bool:
        """Add bytes per day once per event id (False: the event was counted before)."""
        ...

    async def set_volume(self, organization_id: str, bytes_by_day: Mapping[str, int]) -> None:
        """Overwrite these days' bytes (reconciliation from the time-series store)."""
        ...

    async def numbers(self, organization_id: str, today: str) -> StoredNumbers:
        """Counters, today's and this month's bytes, the baseline snapshot and the last reconciliation."""
        ...

    async def mark_reconciled(self, organization_id: str, at_ms: int) -> None: ...

    async def forget_events_before(self, at_ms: int) -> int:
        """Drop remembered event ids older than `at_ms` (redeliveries come within minutes); how many."""
        ...

    async def close(self) -> None: ...


class DeviceCensus(Protocol):
    """The device service's view of an organization's devices."""

    async def counts(self, organization_id: str) -> dict[str, int]:
        """Live devices per status (registered, online, offline, maintenance)."""
        ...

    async def statuses(self, organization_id: str) -> dict[str, str]:
        """Every live device's status by id (a full listing: only when the counts disagree)."""
        ...


class AlertCensus(Protocol):
    """The alerting service's view of an organization's alerts that are not resolved."""

    async def counts(self, organization_id: str) -> dict[str, int]:
        """Active (triggered or acknowledged) alerts per severity."""
        ...

    async def active(self, organization_id: str) -> dict[str, str]:
        """Every active alert's severity by id (a full listing: only when the counts disagree)."""
        ...


class DatapointCounts(Protocol):
    async def daily(self, organization_id: str, start_ms: int, end_ms: int) -> dict[str, int]:
        """Datapoints stored per UTC day (YYYY-MM-DD) in [start_ms, end_ms)."""
        ...


class DeviceOwnership(Protocol):
    async def owned(self, organization_id: str, device_ids: Collection[str]) -> set[str]:
        """Those of `device_ids` that are live devices of the organization."""
        ...


class SeriesSource(Protocol):
    async def aggregate(self, organization_id: str, plan: QueryPlan) -> list[SeriesData]:
        """Bucketed aggregates computed by the time-series store; series without data may be absent."""
        ...


# Reports and exports (§3.5.3, §3.5.4).


class JobStore(Protocol):
    """Report and export jobs, claimed under a lease (domain/jobs.py)."""

    async def add(self, job: Job) -> None: ...

    async def get(self, kind: JobKind, job_id: str) -> Job | None: ...

    async def claim(self, kind: JobKind, job_id: str, now_ms: int, lease_ms: int) -> Job | None:
        """Mark the job running with a new attempt and a lease until now + lease_ms, when it is queued or its
        lease has expired (atomically: one claimer wins); None when it is not to be built now."""
        ...

    async def renew(self, kind: JobKind, job_id: str, attempt: int, until_ms: int) -> bool:
        """Extend the lease of this attempt; False when another attempt has taken the job over."""
        ...

    async def finish(self, kind: JobKind, job_id: str, attempt: int, finished: Job) -> bool:
        """Store the completed or failed job if this attempt still holds it; False otherwise."""
        ...

    async def stale(self, now_ms: int, queued_before_ms: int, limit: int) -> list[Job]:
        """Jobs running under an expired lease, and jobs queued before `queued_before_ms` (their event may be
        lost): the sweep claims them."""
        ...

    async def count_waiting(self, kind: JobKind) -> int:
        """Jobs queued or running (for the estimated completion time)."""
        ...

    async def close(self) -> None: ...


class FileStore(Protocol):
    """Where finished files go (the shared object store, services/runtime/objects, satisfies it)."""

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str = ...) -> WrittenFile: ...

    async def presign_download(self, key: str, *, expires_in: float, filename: str | None = None) -> str: ...


class WrittenFile(Protocol):
    @property
    def size(self) -> int: ...


class JobQueue(Protocol):
    """Announces a queued job to the workers (the bus)."""

    async def report_requested(self, job: Job) -> None: ...

    async def export_requested(self, job: Job) -> None: ...


class ReportSources(Protocol):
    """The peers' data a report is built from (asked with the analytics service's own token)."""

    async def devices(self, organization_id: str, device_ids: Sequence[str]) -> list[DeviceSnapshot]:
        """The organization's live devices among `device_ids`, in that order."""
        ...

    async def hours_with_data(
        self, organization_id: str, device_id: str, metrics: Sequence[str], start_ms: int, end_ms: int
    ) -> set[int]:
        """Hour indexes (ms // 3,600,000) in [start_ms, end_ms) in which the device has stored datapoints."""
        ...

    async def alert_counts(
        self, organization_id: str, start_ms: int, end_ms: int, device_ids: Sequence[str]
    ) -> list[AlertCount]: ...

    async def daily_datapoints(self, organization_id: str, start_ms: int, end_ms: int) -> dict[str, int]: ...


class ReadingStream(Protocol):
    def batches(self, organization_id: str, spec: ExportSpec) -> AsyncIterator[ReadingBatch]:
        """The export's datapoints in time order, a batch at a time."""
        ...


class ReportRenderer(Protocol):
    def render(self, document: ReportDocument, format: str) -> bytes:
        """The document as a file of the format (pdf, csv, json); CPU-bound, run off the event loop."""
        ...
