"""`iotmon job <name>`: run one scheduled job now, as a Kubernetes CronJob does, showing its progress.

    iotmon job archival      [--retention-days N]  [--data-dir DIR]
    iotmon job cleanup       [--older-than-days N] [--data-dir DIR]
    iotmon job health-check                        [--data-dir DIR]
    iotmon job usage-report  [--month YYYY-MM]     [--data-dir DIR]

It acts as a service principal (the data directory's signing key, like `iotmon dlq`, or the mounted service
token IOTMON_SERVICE_TOKEN_FILE) and reaches the services at IOTMON_<SERVICE>_ADDR. Exit code 0 when the job
succeeded (health-check: healthy), 1 when it failed or found the platform unhealthy, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from pathlib import Path
from typing import TextIO

import grpc.aio

from iotmon.jobs.context import JobContext, JobOptions, JobResult
from iotmon.jobs.progress import progress_for
from iotmon.jobs.registry import JOBS
from iotmon.jobs.settings import JobSettings
from services.runtime.bus import EventBus
from services.runtime.bus_select import open_bus
from services.runtime.keys import KEY_FILE_NAME
from services.runtime.settings import RuntimeSettings

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(JOBS), help="; ".join(f"{n}: {j.description}" for n, j in JOBS.items()))
    parser.add_argument("--data-dir", type=Path, default=None, help="the data directory of `iotmon up` (its key)")
    parser.add_argument("--retention-days", type=float, default=None, help="archival: override the retention")
    parser.add_argument("--older-than-days", type=float, default=None, help="cleanup: override the 90 days")
    parser.add_argument("--month", default=None, help="usage-report: YYYY-MM (default: the previous month)")


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if args.data_dir:
        os.environ["IOTMON_DATA_DIR"] = str(args.data_dir.resolve())
    if args.month is not None and not MONTH.match(args.month):
        sys.stderr.write(f"iotmon job: --month must be YYYY-MM, not {args.month!r}\n")
        return 2
    settings = RuntimeSettings()
    key = settings.keys_dir / KEY_FILE_NAME
    if settings.service_token_file is None and not key.exists():
        sys.stderr.write(f"iotmon job: no signing key at {key}; pass --data-dir or set IOTMON_SERVICE_TOKEN_FILE\n")
        return 2
    options = JobOptions(retention_days=args.retention_days, older_than_days=args.older_than_days, month=args.month)
    return asyncio.run(run_job(args.name, settings, options, out))


async def run_job(name: str, settings: RuntimeSettings, options: JobOptions, out: TextIO) -> int:
    bus = await _bus(settings)
    try:
        result = await run_one(name, JobContext(settings, JobSettings(), bus=bus, options=options), out)
    finally:
        if bus is not None:
            await bus.close()
    return 0 if result.ok else 1


async def run_one(name: str, ctx: JobContext, out: TextIO | None = None) -> JobResult:
    """Run a job with its progress display; a service that refuses or is unreachable is a failed run."""
    job = JOBS[name]
    with progress_for(name, out) as progress:
        try:
            result = await job.run(ctx, progress)
        except grpc.aio.AioRpcError as error:
            result = JobResult(ok=False, summary=_explain(error))
        progress.line(f"{name}: {'done' if result.ok else 'FAILED'}: {result.summary}")
    return result


async def _bus(settings: RuntimeSettings) -> EventBus | None:
    """RabbitMQ when configured (health metrics reach every consumer); an in-process bus would reach no one."""
    if not settings.amqp_url:
        return None
    bus = open_bus(settings)
    await bus.start()
    return bus


def _explain(error: grpc.aio.AioRpcError) -> str:
    code = error.code()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return f"a service did not answer ({code.name}): is the mesh up, and IOTMON_<SERVICE>_ADDR right?"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return "the service refused the token: pass the --data-dir `iotmon up` uses, or set IOTMON_SERVICE_TOKEN_FILE"
    return f"{code.name}: {error.details()}"
