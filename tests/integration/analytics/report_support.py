"""What the report and export job tests share: the JobStore on every adapter, faked peers with known data,
a renderer that counts its builds, and a ReportsAndExports wired to them and to the filesystem object store."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.analytics.adapters.jobs_memory import InMemoryJobStore
from services.analytics.adapters.jobs_sqlite import SqliteJobStore
from services.analytics.adapters.report_render import ReportRenderer
from services.analytics.domain.documents import AlertCount, ReportDocument
from services.analytics.domain.jobs import Job
from services.analytics.domain.jobs_service import ReportsAndExports
from services.analytics.domain.requests import ExportSpec
from services.analytics.ports import DeviceSnapshot, JobQueue, JobStore, ReadingBatch
from services.runtime.objects import ObjectStore, ObjectStoreSettings, open_object_store
from services.runtime.settings import RuntimeSettings
from tests.support.stores import StoreAdapters, open_store

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

HOUR_MS = 3_600_000
GATEWAY = "http://gateway.test"


async def _postgres_jobs(dsn: str, schema: str) -> JobStore:
    from services.analytics.adapters.jobs_postgres import PostgresJobStore

    return await PostgresJobStore.open(dsn, schema=schema)


async def _dynamodb_jobs(client: DynamoDBClient, table: str) -> JobStore:
    from services.analytics.adapters.jobs_dynamodb import DynamoDbJobStore

    dynamodb = DynamoDbJobStore(client, table)
    await dynamodb.ensure_table()
    return dynamodb


JOB_STORES = StoreAdapters[JobStore](
    "analytics-jobs",
    memory=InMemoryJobStore,
    sqlite=SqliteJobStore,
    postgres=_postgres_jobs,
    dynamodb=_dynamodb_jobs,
)


def job_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest | None = None
) -> AbstractAsyncContextManager[JobStore]:
    """`request` reaches the session's moto server for kind "dynamodb"."""
    return open_store(kind, JOB_STORES, tmp_path, request)


class Owner:
    def __init__(self, owned: set[str]):
        self.owned_ids = owned

    async def owned(self, organization_id: str, device_ids: Collection[str]) -> set[str]:
        return {d for d in device_ids if d in self.owned_ids and organization_id == "org-1"}


class FakeSources:
    """Two devices: d1 sent data in half of the hours of the range, d2 in none; alerts; datapoints per day."""

    async def devices(self, organization_id: str, device_ids: Sequence[str]) -> list[DeviceSnapshot]:
        known = {
            "d1": DeviceSnapshot("d1", "Office-Temp-Sensor-1", "online", None, ("temperature",), 99.5),
            "d2": DeviceSnapshot("d2", "Warehouse", "offline", None, ("humidity",), 10.0),
        }
        return [known[d] for d in device_ids if d in known]

    async def hours_with_data(
        self, organization_id: str, device_id: str, metrics: Sequence[str], start_ms: int, end_ms: int
    ) -> set[int]:
        if device_id != "d1":
            return set()
        return {h for h in range(start_ms // HOUR_MS, end_ms // HOUR_MS) if h % 2 == 0}

    async def alert_counts(
        self, organization_id: str, start_ms: int, end_ms: int, device_ids: Sequence[str]
    ) -> list[AlertCount]:
        return [
            AlertCount("2025-10-01", "d1", "Office", "critical", "resolved", 3, 1800.0),
            AlertCount("2025-10-02", "d2", "Warehouse", "info", "triggered", 2, 0.0),
        ]

    async def daily_datapoints(self, organization_id: str, start_ms: int, end_ms: int) -> dict[str, int]:
        return {"2025-10-01": 1000, "2025-10-02": 250}


class FakeReadings:
    def __init__(self, rows: int = 5, fail_after: int | None = None):
        self.rows = rows
        self.fail_after = fail_after

    async def batches(self, organization_id: str, spec: ExportSpec) -> AsyncIterator[ReadingBatch]:
        for i in range(self.rows):
            if self.fail_after is not None and i >= self.fail_after:
                raise RuntimeError("telemetry went away")
            yield ReadingBatch([spec.start_ms + i * 1000], [spec.device_ids[0]], ["temperature"], [20.0 + i])


class CountingRenderer(ReportRenderer):
    """The real renderer, counting which reports it rendered (each should be rendered once)."""

    def __init__(self) -> None:
        self.rendered: Counter[str] = Counter()

    def render(self, document: ReportDocument, format: str) -> bytes:
        self.rendered[document.report_type] += 1
        return super().render(document, format)


class RecordingQueue:
    def __init__(self) -> None:
        self.reports: list[Job] = []
        self.exports: list[Job] = []

    async def report_requested(self, job: Job) -> None:
        self.reports.append(job)

    async def export_requested(self, job: Job) -> None:
        self.exports.append(job)


async def file_store(tmp_path: Path, resources: AsyncExitStack) -> ObjectStore:
    runtime = RuntimeSettings(data_dir=tmp_path, public_url=GATEWAY)
    return await open_object_store(runtime, ObjectStoreSettings(backend="fs"), resources)


def service(
    jobs: JobStore,
    queue: JobQueue,
    files: ObjectStore,
    *,
    renderer: ReportRenderer | None = None,
    readings: FakeReadings | None = None,
    lease_ms: int = 60_000,
    now_ms: object = None,
) -> ReportsAndExports:
    return ReportsAndExports(
        jobs=jobs,
        queue=queue,
        files=files,
        ownership=Owner({"d1", "d2"}),
        sources=FakeSources(),
        readings=readings or FakeReadings(),
        renderer=renderer or ReportRenderer(),
        now_ms=now_ms or (lambda: time.time_ns() // 1_000_000),  # type: ignore[arg-type]
        lease_ms=lease_ms,
    )
