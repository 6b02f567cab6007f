"""The four scheduled jobs by the names the Helm chart's CronJobs run (`iotmon job <name>`), with their
schedules under `iotmon up`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from iotmon.jobs import remote
from iotmon.jobs.context import JobContext, JobResult
from iotmon.jobs.health import health_check
from iotmon.jobs.progress import ProgressDisplay
from iotmon.jobs.schedule import Daily, Every, Monthly, Schedule, Weekly
from iotmon.jobs.settings import JobSettings

Run = Callable[[JobContext, ProgressDisplay], Awaitable[JobResult]]


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    run: Run
    schedule: Callable[[JobSettings], Schedule]


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "archival",
            "readings older than the retention period → Parquet in the object store, then deleted (§6.1)",
            remote.archival,
            lambda s: Daily(s.archival_at),
        ),
        Job(
            "cleanup",
            "resolved alerts older than 90 days → archived (JSON Lines), then deleted (§6.2)",
            remote.cleanup,
            lambda s: Weekly(s.cleanup_weekday, s.cleanup_at),
        ),
        Job(
            "health-check",
            "services, stores, bus, consumer lag, dead letters; a system alert when unhealthy (§6.3)",
            health_check,
            lambda s: Every(s.health_check_interval_seconds),
        ),
        Job(
            "usage-report",
            "every organization's usage and estimated cost of a month, stored and emailed to admins (§6.4)",
            remote.usage_report,
            lambda s: Monthly(s.usage_report_day, s.usage_report_at),
        ),
    )
}
