"""`iotmon up` runs the jobs in-process on their schedules (IOTMON_JOBS_*): one loop per job, sleeping until its
next time. A failed run is logged and the job runs again at its next time; runs of one job never overlap."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from iotmon.jobs.command import run_one
from iotmon.jobs.context import JobContext
from iotmon.jobs.registry import JOBS, Job
from iotmon.jobs.schedule import utc_now

log = logging.getLogger("iotmon.jobs")


def scheduled_jobs(
    ctx: JobContext, now: Callable[[], datetime] = utc_now
) -> list[Callable[[], Coroutine[Any, Any, None]]]:
    """Background coroutines for the mesh, one per job; none when scheduling is off."""
    if not ctx.jobs.schedule:
        return []
    return [_loop(job, ctx, now) for job in JOBS.values()]


def _loop(job: Job, ctx: JobContext, now: Callable[[], datetime]) -> Callable[[], Coroutine[Any, Any, None]]:
    schedule = job.schedule(ctx.jobs)

    async def run() -> None:
        while True:
            at = schedule.next_after(now())
            await asyncio.sleep(max(0.0, (at - now()).total_seconds()))
            try:
                # The progress goes to the log as plain lines, not to the banner's terminal.
                result = await run_one(job.name, ctx, io.StringIO())
            except Exception:
                log.exception("scheduled job failed; it runs again at its next time", extra={"job": job.name})
                continue
            level = logging.INFO if result.ok else logging.ERROR
            log.log(level, "scheduled job ran", extra={"job": job.name, "ok": result.ok, "summary": result.summary})

    return run
