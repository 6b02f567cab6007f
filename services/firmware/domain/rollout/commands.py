"""What the rollout use cases take, as plain values the servicer fills from the requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CreateDeployment:
    """§3.4.4, plus the settings beyond the spec (None: the default)."""

    firmware_id: str
    target_devices: Sequence[str]
    strategy: str
    batch_size: int | None = None
    # "immediate" (also when empty) or "scheduled".
    schedule_type: str | None = None
    start_time: datetime | None = None
    success_threshold: float | None = None
    job_timeout_seconds: int | None = None
    max_retries: int | None = None


@dataclass(frozen=True)
class ListDeployments:
    status: str | None = None
    firmware_id: str | None = None
    page: int | None = None
    page_size: int | None = None


@dataclass(frozen=True)
class ListJobs:
    deployment_id: str
    status: str | None = None
    batch_id: int | None = None
    page: int | None = None
    page_size: int | None = None


@dataclass(frozen=True)
class UpdateJob:
    """A device's report over the HTTP fallback (UpdateJobExecution)."""

    device_id: str
    job_id: str
    status: str
    status_details: Mapping[str, str] = field(default_factory=dict)
    expected_version: int | None = None
