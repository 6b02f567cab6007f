"""The jobs that run inside the owning service (archival, cleanup, usage report): `iotmon job` calls the service's
internal RPC and shows the progress it streams. The work happens where the data is: DuckDB is one process's
file, so only the running telemetry service can read and delete its readings (docs/jobs.md)."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from iot.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from iot.common.v1 import jobs_pb2
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from iotmon.jobs.context import JobContext, JobResult
from iotmon.jobs.progress import ProgressDisplay, format_counters


async def follow(responses: AsyncIterable[Any], progress: ProgressDisplay) -> dict[str, float]:
    """Show each streamed step; the counters of the last one."""
    counters: dict[str, float] = {}
    async for response in responses:
        step: jobs_pb2.JobProgress = response.progress
        counters = dict(step.counters)
        progress.update(step.stage, step.done, step.total, counters)
    return counters


async def archival(ctx: JobContext, progress: ProgressDisplay) -> JobResult:
    request = telemetry_pb2.ArchiveReadingsRequest(retention_days=ctx.options.retention_days)
    async with ctx.channel("telemetry") as channel:
        stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
        counters = await follow(stub.ArchiveReadings(request, metadata=ctx.metadata()), progress)
    return _done(counters)


async def cleanup(ctx: JobContext, progress: ProgressDisplay) -> JobResult:
    request = alerting_pb2.ArchiveResolvedAlertsRequest(older_than_days=ctx.options.older_than_days)
    async with ctx.channel("alerting") as channel:
        stub = alerting_pb2_grpc.AlertingServiceStub(channel)
        counters = await follow(stub.ArchiveResolvedAlerts(request, metadata=ctx.metadata()), progress)
    return _done(counters)


async def usage_report(ctx: JobContext, progress: ProgressDisplay) -> JobResult:
    request = analytics_pb2.RunUsageReportsRequest(month=ctx.options.month)
    async with ctx.channel("analytics") as channel:
        stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
        counters = await follow(stub.RunUsageReports(request, metadata=ctx.metadata()), progress)
    return _done(counters)


def _done(counters: dict[str, float]) -> JobResult:
    return JobResult(ok=True, counters=counters, summary=format_counters(counters) or "nothing to do")
