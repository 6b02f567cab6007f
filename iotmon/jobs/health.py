"""`iotmon job health-check` (§6.3): run the checks, print them as a table, publish jobs.health_checked, and raise
a system alert through the alerting service when one failed (exit code 1 then)."""

from __future__ import annotations

import logging

import grpc.aio
from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from iot.common.v1 import jobs_pb2

from iotmon.jobs.context import JobContext, JobResult
from iotmon.jobs.progress import ProgressDisplay
from services.runtime.bus import event_meta
from services.runtime.health_check import CheckResult, HealthChecker, HealthLimits, Status, healthy

log = logging.getLogger("iotmon.jobs")

HEALTH_CHECKED = "jobs.health_checked"
SYSTEM_CHECK = "health"


def table(results: list[CheckResult]) -> list[str]:
    width = max((len(r.name) for r in results), default=4)
    return [f"{'check':<{width}}  status   detail", *(f"{r.name:<{width}}  {r.status:<7}  {r.detail}" for r in results)]


def failure_message(results: list[CheckResult]) -> str:
    failed = [r for r in results if r.status is Status.FAILED]
    return "unhealthy: " + "; ".join(f"{r.name} {r.detail}" for r in failed)


async def health_check(ctx: JobContext, progress: ProgressDisplay) -> JobResult:
    assert ctx.tokens is not None
    limits = HealthLimits(
        max_queue_depth=ctx.jobs.health_max_queue_depth,
        max_dead_letters=ctx.jobs.health_max_dead_letters,
        timeout_seconds=ctx.jobs.health_timeout_seconds,
        bus_groups=tuple(ctx.jobs.health_bus_groups),
    )
    progress.update("checking services, stores and the bus", 0, 0, {})
    results = await HealthChecker(ctx.settings, ctx.tokens, limits, ctx.bus).run()
    ok = healthy(results)
    counters = {
        "checks": float(len(results)),
        "failed": float(sum(r.status is Status.FAILED for r in results)),
    }
    progress.update("checked", len(results), len(results), counters)
    for row in table(results):
        progress.line(row)
    await _publish(ctx, ok, results)
    if not ok:
        await _raise_alert(ctx, results)
    return JobResult(ok=ok, counters=counters, summary="healthy" if ok else failure_message(results))


async def _publish(ctx: JobContext, ok: bool, results: list[CheckResult]) -> None:
    if ctx.bus is None:
        return
    event = jobs_pb2.HealthChecked(
        meta=event_meta(ctx.jobs.health_alert_organization),
        healthy=ok,
        checks=[
            jobs_pb2.HealthCheckResult(name=r.name, status=r.status, detail=r.detail, value=r.value) for r in results
        ],
    )
    try:
        await ctx.bus.publish(HEALTH_CHECKED, event)
    except Exception:
        log.exception("publishing the health check failed")


async def _raise_alert(ctx: JobContext, results: list[CheckResult]) -> None:
    failed = [r for r in results if r.status is Status.FAILED]
    request = alerting_pb2.RaiseSystemAlertRequest(
        organization_id=ctx.jobs.health_alert_organization,
        check=SYSTEM_CHECK,
        severity="critical",
        message=failure_message(results)[:1000],  # the alert condition's limit
        actual_value=float(len(failed)),
        threshold=0.0,
    )
    try:
        async with ctx.channel("alerting") as channel:
            await alerting_pb2_grpc.AlertingServiceStub(channel).RaiseSystemAlert(
                request, timeout=ctx.jobs.health_timeout_seconds
            )
    except grpc.aio.AioRpcError as error:  # the alerting service may be what is down
        log.error("raising the health alert failed", extra={"code": error.code().name})
