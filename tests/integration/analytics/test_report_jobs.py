"""Report and export jobs for real: the JobStore's claims and fences on memory, SQLite and PostgreSQL; the
use cases building into the filesystem object store (PDF rendered by pdftoppm, CSV, JSON, exports), failures
recorded, other organizations refused, and workers on the in-process bus and on RabbitMQ — two workers share
the reports and each is built exactly once."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import subprocess
import uuid
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from services.analytics.adapters.job_events import (
    EXPORTS_GROUP,
    REPORTS_GROUP,
    BusJobQueue,
    subscribe_workers,
)
from services.analytics.domain.jobs import Job, JobKind, JobNotFound, JobStatus
from services.analytics.domain.query import DevicesNotFound
from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied, ValidationFailed
from services.runtime import bus_topology as topology
from services.runtime.bus import InProcessBus
from services.runtime.bus_rabbitmq import RabbitMqBus
from services.runtime.bus_topology import RabbitMqOptions
from tests.integration.analytics.report_support import (
    CountingRenderer,
    FakeReadings,
    RecordingQueue,
    file_store,
    job_store,
    service,
)
from tests.support.servers import require_server

USER = Caller("user-1", "org-1", Role.VIEWER)
OCTOBER = {"startDate": "2025-10-01", "endDate": "2025-10-31"}
STORES = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.needs_server),
    pytest.param("dynamodb", marks=pytest.mark.needs_server),
]


def queued(job_id: str, created_at_ms: int = 1000) -> Job:
    return Job(
        job_id,
        JobKind.REPORT,
        "org-1",
        "user-1",
        "csv",
        "data-volume",
        dict(OCTOBER),
        JobStatus.QUEUED,
        created_at_ms,
        created_at_ms + 5000,
    )


@pytest.mark.parametrize("kind", STORES)
async def test_a_job_is_claimed_once_and_only_its_attempt_finishes_it(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with job_store(kind, tmp_path, request) as jobs:
        await jobs.add(queued("r-1"))
        assert await jobs.count_waiting(JobKind.REPORT) == 1
        assert await jobs.count_waiting(JobKind.EXPORT) == 0
        first = await jobs.claim(JobKind.REPORT, "r-1", now_ms=10_000, lease_ms=1000)
        assert first is not None
        assert (first.status, first.attempt, first.lease_until_ms) == (JobStatus.RUNNING, 1, 11_000)
        assert first.parameters == OCTOBER
        assert await jobs.claim(JobKind.REPORT, "r-1", now_ms=10_500, lease_ms=1000) is None  # lease alive
        assert await jobs.renew(JobKind.REPORT, "r-1", 1, until_ms=12_000)
        assert await jobs.claim(JobKind.REPORT, "r-1", now_ms=11_500, lease_ms=1000) is None  # renewed
        second = await jobs.claim(JobKind.REPORT, "r-1", now_ms=12_001, lease_ms=1000)  # the worker went silent
        assert second is not None
        assert second.attempt == 2
        done = replace(second, status=JobStatus.COMPLETED, object_key="reports/org-1/r-1.csv", size=42)
        assert not await jobs.finish(JobKind.REPORT, "r-1", 1, replace(done, completed_at_ms=1))  # fenced out
        assert not await jobs.renew(JobKind.REPORT, "r-1", 1, until_ms=99_000)
        assert await jobs.finish(JobKind.REPORT, "r-1", 2, replace(done, completed_at_ms=12_500))
        stored = await jobs.get(JobKind.REPORT, "r-1")
        assert stored is not None
        assert (stored.status, stored.object_key, stored.size, stored.completed_at_ms) == (
            JobStatus.COMPLETED,
            "reports/org-1/r-1.csv",
            42,
            12_500,
        )
        assert await jobs.claim(JobKind.REPORT, "r-1", now_ms=99_999_999, lease_ms=1000) is None  # never redone
        assert await jobs.get(JobKind.EXPORT, "r-1") is None


@pytest.mark.parametrize("kind", STORES)
async def test_stale_jobs_are_expired_leases_and_old_queued_ones(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with job_store(kind, tmp_path, request) as jobs:
        await jobs.add(queued("old", created_at_ms=1000))
        await jobs.add(queued("new", created_at_ms=9000))
        await jobs.add(queued("running", created_at_ms=500))
        await jobs.claim(JobKind.REPORT, "running", now_ms=1000, lease_ms=1000)
        stale = await jobs.stale(now_ms=5000, queued_before_ms=5000, limit=10)
        assert [job.job_id for job in stale] == ["running", "old"]
        assert [job.job_id for job in await jobs.stale(now_ms=1500, queued_before_ms=0, limit=10)] == []


@pytest.mark.parametrize("report_format", ["pdf", "csv", "json"])
@pytest.mark.parametrize("report_type", ["device-uptime", "alert-summary", "data-volume"])
async def test_each_report_type_and_format_builds_a_file(tmp_path: Path, report_type: str, report_format: str) -> None:
    async with AsyncExitStack() as resources:
        files = await file_store(tmp_path, resources)
        queue = RecordingQueue()
        jobs = service(await resources.enter_async_context(job_store("memory", tmp_path)), queue, files)
        parameters: dict[str, Any] = dict(OCTOBER)
        if report_type == "device-uptime":
            parameters["deviceIds"] = ["d1", "d2"]
        job = await jobs.request_report(USER, report_type, parameters, report_format)
        assert job.status is JobStatus.QUEUED
        assert job.estimated_completion_ms > job.created_at_ms
        assert [j.job_id for j in queue.reports] == [job.job_id]
        assert (await jobs.get(USER, JobKind.REPORT, job.job_id))[1] is None  # no link before completion
        assert await jobs.build(JobKind.REPORT, job.job_id)
        assert not await jobs.build(JobKind.REPORT, job.job_id)  # a redelivery changes nothing
        finished, url = await jobs.get(USER, JobKind.REPORT, job.job_id)
        assert finished.status is JobStatus.COMPLETED, finished.error
        assert url is not None
        assert "signature=" in url
        assert finished.object_key == f"reports/org-1/{job.job_id}.{report_format}"
        path = tmp_path / "objects" / finished.object_key
        content = path.read_bytes()
        assert finished.size == len(content)
        check_report(report_type, report_format, content, tmp_path)


def check_report(report_type: str, report_format: str, content: bytes, tmp_path: Path) -> None:
    if report_format == "pdf":
        assert content.startswith(b"%PDF")
        if shutil.which("pdftoppm"):
            (tmp_path / "r.pdf").write_bytes(content)
            subprocess.run(
                ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", "r.pdf", "page"], cwd=tmp_path, check=True
            )
            assert list(tmp_path.glob("page*.png"))
        return
    if report_format == "csv":
        rows = list(csv.reader(io.StringIO(content.decode())))
    else:
        body = json.loads(content)
        assert body["reportType"] == report_type
        rows = [body["columns"], *([str(v) for v in row.values()] for row in body["rows"])]
    if report_type == "device-uptime":
        assert rows[0][:3] == ["deviceId", "name", "status"]
        assert [r[0] for r in rows[1:]] == ["d1", "d2"]
        assert rows[1][3:6] == ["372", "744", "50.0"]  # every other hour of October's 744
        assert rows[2][3] == "0"
    elif report_type == "alert-summary":
        assert rows[0] == ["day", "critical", "warning", "info", "total"]
        assert rows[1] == ["2025-10-01", "3", "0", "0", "3"]
        assert rows[2] == ["2025-10-02", "0", "0", "2", "2"]
        assert len(rows) == 32
    else:
        assert rows[1] == ["2025-10-01", "1000", "16000"]
        assert rows[2] == ["2025-10-02", "250", "4000"]


async def test_requests_are_validated_and_other_organizations_see_nothing(tmp_path: Path) -> None:
    async with AsyncExitStack() as resources:
        files = await file_store(tmp_path, resources)
        jobs = service(await resources.enter_async_context(job_store("memory", tmp_path)), RecordingQueue(), files)
        with pytest.raises(ValidationFailed):
            await jobs.request_report(USER, "device-uptime", dict(OCTOBER), "pdf")
        with pytest.raises(DevicesNotFound) as missing:
            await jobs.request_report(USER, "device-uptime", {**OCTOBER, "deviceIds": ["d1", "theirs"]}, "pdf")
        assert missing.value.device_ids == ["theirs"]
        with pytest.raises(DevicesNotFound):
            await jobs.request_export(USER, ("nope",), (), 0, 1000, "csv")
        with pytest.raises(PermissionDenied):
            await jobs.request_report(Caller.service("ops"), "data-volume", dict(OCTOBER), "pdf")
        job = await jobs.request_report(USER, "data-volume", dict(OCTOBER), "csv")
        with pytest.raises(JobNotFound):
            await jobs.get(Caller("user-2", "org-2", Role.ADMIN), JobKind.REPORT, job.job_id)
        with pytest.raises(JobNotFound):
            await jobs.get(USER, JobKind.EXPORT, job.job_id)


async def test_an_export_writes_rows_and_a_failing_one_records_its_error(tmp_path: Path) -> None:
    async with AsyncExitStack() as resources:
        files = await file_store(tmp_path, resources)
        store = await resources.enter_async_context(job_store("sqlite", tmp_path))
        good = service(store, RecordingQueue(), files, readings=FakeReadings(rows=3))
        job = await good.request_export(USER, ("d1",), ("temperature",), 1_735_689_600_000, 1_735_693_200_000, "json")
        assert await good.build(JobKind.EXPORT, job.job_id)
        finished, url = await good.get(USER, JobKind.EXPORT, job.job_id)
        assert (finished.status, finished.rows) == (JobStatus.COMPLETED, 3)
        assert url is not None
        assert finished.object_key is not None
        assert finished.object_key.endswith(".jsonl")
        lines = (tmp_path / "objects" / finished.object_key).read_text().splitlines()
        assert [json.loads(line)["value"] for line in lines] == [20.0, 21.0, 22.0]
        assert json.loads(lines[0])["timestamp"] == "2025-01-01T00:00:00.000Z"

        broken = service(store, RecordingQueue(), files, readings=FakeReadings(rows=3, fail_after=1))
        job = await broken.request_export(USER, ("d1",), (), 1_735_689_600_000, 1_735_693_200_000, "csv")
        assert await broken.build(JobKind.EXPORT, job.job_id)
        failed, url = await broken.get(USER, JobKind.EXPORT, job.job_id)
        assert (failed.status, failed.error, url) == (JobStatus.FAILED, "telemetry went away", None)
        assert not (tmp_path / "objects" / "exports" / "org-1" / f"{job.job_id}.csv").exists()


async def test_the_sweep_builds_orphaned_jobs(tmp_path: Path) -> None:
    clock = [1_000_000]
    async with AsyncExitStack() as resources:
        files = await file_store(tmp_path, resources)
        store = await resources.enter_async_context(job_store("sqlite", tmp_path))
        jobs = service(store, RecordingQueue(), files, now_ms=lambda: clock[0], lease_ms=1000)
        lost = await jobs.request_report(USER, "data-volume", dict(OCTOBER), "csv")  # its event never came
        dead = await jobs.request_report(USER, "data-volume", dict(OCTOBER), "json")
        assert await store.claim(JobKind.REPORT, dead.job_id, clock[0], 1000)  # a worker that then died
        assert await jobs.recover(queued_grace_ms=60_000) == 0  # too early for both
        clock[0] += 61_000
        assert await jobs.recover(queued_grace_ms=60_000) == 2
        for job in (lost, dead):
            finished, _ = await jobs.get(USER, JobKind.REPORT, job.job_id)
            assert finished.status is JobStatus.COMPLETED


async def test_two_workers_on_the_in_process_bus_build_each_report_once(tmp_path: Path) -> None:
    bus = InProcessBus()
    async with AsyncExitStack() as resources:
        files = await file_store(tmp_path, resources)
        store = await resources.enter_async_context(job_store("sqlite", tmp_path))
        renderers = [CountingRenderer(), CountingRenderer()]
        workers = [service(store, BusJobQueue(bus), files, renderer=r) for r in renderers]
        for worker in workers:
            subscribe_workers(bus, worker)
        await bus.start()
        try:
            asked = [await workers[0].request_report(USER, "data-volume", dict(OCTOBER), "csv") for _ in range(6)]
            await wait_completed(workers[0], asked)
        finally:
            await bus.close()
        assert sum(sum(r.rendered.values()) for r in renderers) == 6


async def test_two_workers_on_rabbitmq_share_the_reports_and_build_each_once(tmp_path: Path) -> None:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    options = RabbitMqOptions(
        url="amqp://guest:guest@127.0.0.1:5672/",
        exchange=f"test.{uuid.uuid4().hex[:10]}",
        queue_prefix=prefix,
        connect_timeout=5.0,
        drain_seconds=0.3,
    )
    buses = [RabbitMqBus(options), RabbitMqBus(options)]
    async with AsyncExitStack() as resources:
        files = await file_store(tmp_path, resources)
        store = await resources.enter_async_context(job_store("sqlite", tmp_path))
        renderers = [CountingRenderer(), CountingRenderer()]
        workers = [service(store, BusJobQueue(bus), files, renderer=r) for bus, r in zip(buses, renderers, strict=True)]
        try:
            for bus, worker in zip(buses, workers, strict=True):
                subscribe_workers(bus, worker)
                await bus.start()
            asked = [await workers[i % 2].request_report(USER, "data-volume", dict(OCTOBER), "csv") for i in range(8)]
            await wait_completed(workers[0], asked)
        finally:
            for bus in buses:
                await bus.close()
            await delete_queues(prefix)
        assert sum(sum(r.rendered.values()) for r in renderers) == 8  # each report once, whoever built it


async def wait_completed(worker: object, asked: list[Job]) -> None:
    async with asyncio.timeout(30):
        while True:
            states = [(await worker.get(USER, JobKind.REPORT, j.job_id))[0].status for j in asked]  # type: ignore[attr-defined]
            if all(s is JobStatus.COMPLETED for s in states):
                return
            await asyncio.sleep(0.05)


async def delete_queues(prefix: str) -> None:
    async with await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/") as connection:
        channel = await connection.channel()
        for group, pattern in (
            (REPORTS_GROUP, "analytics.report_requested"),
            (EXPORTS_GROUP, "analytics.export_requested"),
        ):
            await channel.queue_delete(topology.group_queue(group, pattern, prefix))
            await channel.queue_delete(topology.dead_queue(group, prefix))
