"""Settings of the scheduled jobs (IOTMON_JOBS_*): when `iotmon up` runs them, and the health check's limits."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_JOBS_", extra="ignore")

    # `iotmon up` runs the jobs on their schedules unless this is false (or `iotmon up --no-jobs`).
    schedule: bool = True
    # UTC times of day ("HH:MM"); the spec's defaults: archival daily at 02:00, cleanup weekly, usage monthly.
    archival_at: str = Field(default="02:00", pattern=r"^\d{2}:\d{2}$")
    cleanup_at: str = Field(default="03:00", pattern=r"^\d{2}:\d{2}$")
    cleanup_weekday: int = Field(default=6, ge=0, le=6, description="0 = Monday; the weekly cleanup's day")
    usage_report_at: str = Field(default="04:00", pattern=r"^\d{2}:\d{2}$")
    usage_report_day: int = Field(default=1, ge=1, le=28, description="day of the month of the usage reports")
    health_check_interval_seconds: float = Field(default=3600, gt=0)
    # The health check: a queue holding more events than this is lagging; dead letters past this are unhealthy.
    health_max_queue_depth: int = Field(default=10_000, ge=0)
    health_max_dead_letters: int = Field(default=0, ge=0)
    health_timeout_seconds: float = Field(default=5, gt=0)
    # Who is told when the platform is unhealthy: a system alert in this organization (its admins and rules).
    health_alert_organization: str = "org-demo"
    # Consumer groups whose queues and dead-letter queues the health check measures on RabbitMQ.
    health_bus_groups: list[str] = Field(
        default_factory=lambda: ["alerting", "notification", "device", "analytics", "firmware", "telemetry"]
    )
