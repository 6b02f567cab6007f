"""An export of many rows through the real path, with the worker's memory sampled: a device service and a
telemetry service (their bootstraps, embedded stores) on free ports, readings written straight into the
telemetry store (DuckDB, fast), and the analytics export use case streaming telemetry's StreamReadings into
the filesystem object store. Shared by tests/integration/analytics/test_export_memory.py and
bench/export_memory.py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil

from services.analytics.adapters.jobs_memory import InMemoryJobStore
from services.analytics.adapters.peers import GrpcDeviceOwnership
from services.analytics.adapters.reading_stream import GrpcReadingStream
from services.analytics.adapters.report_render import ReportRenderer
from services.analytics.domain.jobs import Job, JobKind, JobStatus
from services.analytics.domain.jobs_service import ReportsAndExports
from services.kernel.caller import Caller, Role
from services.runtime.clients import open_channel
from services.runtime.objects import ObjectStoreSettings, open_object_store
from services.runtime.service_tokens import ServiceTokens
from services.telemetry.adapters.timeseries_embedded import EmbeddedTimeSeriesStore
from services.telemetry.bootstrap import TelemetrySettings
from services.telemetry.domain.model import Reading
from tests.integration.telemetry.support import register, runtime_settings, telemetry_stack
from tests.support.tokens import TokenMinter

METRICS = ("temperature", "humidity", "co2", "battery")
START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
ORG = "org-1"


@dataclass
class ExportRun:
    job: Job
    rows_written: int
    seconds: float
    baseline_rss: int
    peak_rss: int
    file: Path

    @property
    def growth_mb(self) -> float:
        return (self.peak_rss - self.baseline_rss) / 1e6


class NoQueue:
    async def report_requested(self, job: Job) -> None:
        return None

    async def export_requested(self, job: Job) -> None:
        return None


class NoSources:
    """Exports read no report sources."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"an export asked the report sources for {name}")


async def fill_store(data_dir: Path, device_ids: Sequence[str], datapoints: int) -> int:
    """Readings every second per device from START_MS, four metrics each, written in large batches."""
    store = await EmbeddedTimeSeriesStore.open(data_dir)
    per_reading = len(METRICS)
    readings_total = -(-datapoints // per_reading)
    batch: list[Reading] = []
    written = 0
    try:
        for index in range(readings_total):
            second, device = divmod(index, len(device_ids))
            values = {m: float((index * 7 + k) % 1000) / 10 for k, m in enumerate(METRICS)}
            batch.append(Reading(device_ids[device], ORG, "sensor", START_MS + second * 1000, values))
            if len(batch) >= 50_000:
                written += await store.write(batch)
                batch = []
        if batch:
            written += await store.write(batch)
        await store.compact()
    finally:
        await store.close()
    return written


class RssSampler:
    """The process's resident set size, sampled every few milliseconds in a thread."""

    def __init__(self, every_s: float = 0.02):
        self._process = psutil.Process()
        self._every = every_s
        self._stop = threading.Event()
        self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.peak = max(self.peak, self._process.memory_info().rss)


async def export_many_rows(token_minter: TokenMinter, data_dir: Path, datapoints: int, format: str) -> ExportRun:
    settings = TelemetrySettings(store="embedded")
    async with telemetry_stack(token_minter, data_dir, settings) as stack:
        devices = [await register(stack, token_minter, org=ORG, name=f"Sensor {i}") for i in range(10)]
    await fill_store(data_dir, devices, datapoints)
    async with AsyncExitStack() as resources, telemetry_stack(token_minter, data_dir, settings) as stack:
        runtime = runtime_settings(token_minter, data_dir, "analytics")
        tokens = ServiceTokens(runtime, "analytics")
        device_channel = await resources.enter_async_context(open_channel(stack.device_address, service_tokens=tokens))
        telemetry = await resources.enter_async_context(open_channel(stack.telemetry_address, service_tokens=tokens))
        jobs = InMemoryJobStore()
        service = ReportsAndExports(
            jobs=jobs,
            queue=NoQueue(),
            files=await open_object_store(runtime, ObjectStoreSettings(backend="fs"), resources),
            ownership=GrpcDeviceOwnership(device_channel),
            sources=NoSources(),  # type: ignore[arg-type]
            readings=GrpcReadingStream(telemetry, tokens),
            renderer=ReportRenderer(),
            now_ms=lambda: time.time_ns() // 1_000_000,
        )
        caller = Caller("user-1", ORG, Role.VIEWER)
        end_ms = START_MS + 10 * 86_400_000
        job = await service.request_export(caller, tuple(devices), (), START_MS, end_ms, format)
        await asyncio.sleep(0.5)  # let the start-up settle before the baseline
        baseline = psutil.Process().memory_info().rss
        started = time.perf_counter()
        with RssSampler() as sampler:
            assert await service.build(JobKind.EXPORT, job.job_id)
        seconds = time.perf_counter() - started
        finished = await jobs.get(JobKind.EXPORT, job.job_id)
        assert finished is not None
        assert finished.status is JobStatus.COMPLETED, finished.error
        assert finished.object_key is not None
        return ExportRun(
            finished,
            finished.rows or 0,
            seconds,
            baseline,
            sampler.peak,
            data_dir / "objects" / finished.object_key,
        )
