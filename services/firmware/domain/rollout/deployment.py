"""A deployment: one firmware version rolled out to a list of devices, batch after batch (spec §3.4.4–5).

The batches are not stored one by one: they follow from the strategy, the batch size, the number of targets,
the batch running now (`current_batch`) and how the install ended (`install_outcome`), so a batch's status can
never disagree with the deployment's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.firmware.domain.rollout.job import JobOperation


class DeploymentStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    HALTED = "halted"
    CANCELLED = "cancelled"
    # Rollback jobs are running; rolled_back once every one of them is final.
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"

    @property
    def finished(self) -> bool:
        return self in FINISHED

    @property
    def driven(self) -> bool:
        """The orchestrator has jobs to send, time out and decide on."""
        return self in (DeploymentStatus.IN_PROGRESS, DeploymentStatus.ROLLING_BACK)


FINISHED = frozenset(
    {DeploymentStatus.COMPLETED, DeploymentStatus.HALTED, DeploymentStatus.CANCELLED, DeploymentStatus.ROLLED_BACK}
)


class Strategy(StrEnum):
    STAGED = "staged"
    ALL_AT_ONCE = "all-at-once"


class ScheduleType(StrEnum):
    IMMEDIATE = "immediate"
    SCHEDULED = "scheduled"


class BatchStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class InstallOutcome(StrEnum):
    """How the install part ended; kept when a rollback follows so that the batches still tell it."""

    COMPLETED = "completed"
    HALTED = "halted"
    CANCELLED = "cancelled"


DEFAULT_SUCCESS_THRESHOLD = 95.0
DEFAULT_JOB_TIMEOUT_SECONDS = 600
DEFAULT_MAX_RETRIES = 1


@dataclass(frozen=True)
class FirmwareImage:
    """What a job needs to know of the image it installs (copied from the catalog when the job is planned)."""

    firmware_id: str
    version: str
    object_key: str
    checksum: str
    size: int


@dataclass(frozen=True)
class Deployment:
    deployment_id: str
    org_id: str
    image: FirmwareImage
    strategy: Strategy
    batch_size: int
    target_count: int
    status: DeploymentStatus
    success_threshold: float
    job_timeout_seconds: int
    max_retries: int
    schedule_type: ScheduleType
    # When a scheduled deployment starts (None for immediate ones).
    scheduled_start: datetime | None
    created_by: str
    created_at: datetime
    started_at: datetime | None = None
    # When the deployment reached a finished status (completed, halted, cancelled or rolled_back).
    completed_at: datetime | None = None
    halt_reason: str | None = None
    # 1-based; 0 while nothing has started.
    # Its jobs are created in the same store write that moves current_batch on.
    current_batch: int = 0
    install_outcome: InstallOutcome | None = None
    # What the jobs being driven do: install, or rollback once a rollback was asked for.
    operation: JobOperation = JobOperation.INSTALL
    # Increases on every save; saves are compare-and-set on it (the orchestrator and a cancel may race).
    revision: int = 0

    @property
    def firmware_id(self) -> str:
        return self.image.firmware_id

    @property
    def firmware_version(self) -> str:
        return self.image.version

    @property
    def batch_count(self) -> int:
        return len(batch_sizes(self.strategy, self.batch_size, self.target_count))

    def batch_status(self, batch_id: int) -> BatchStatus:
        if batch_id < self.current_batch:
            return BatchStatus.COMPLETED
        if batch_id > self.current_batch:
            # Batches after a halt or a cancel will never run.
            return BatchStatus.PENDING if self.install_outcome is None else BatchStatus.CANCELLED
        return {
            None: BatchStatus.IN_PROGRESS,
            InstallOutcome.COMPLETED: BatchStatus.COMPLETED,
            InstallOutcome.HALTED: BatchStatus.FAILED,
            InstallOutcome.CANCELLED: BatchStatus.CANCELLED,
        }[self.install_outcome]


def batch_sizes(strategy: Strategy, batch_size: int, target_count: int) -> list[int]:
    """How many devices each batch holds: chunks of batch_size (staged) or one batch (all-at-once)."""
    if target_count <= 0:
        return []
    if strategy is Strategy.ALL_AT_ONCE:
        return [target_count]
    full, rest = divmod(target_count, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def batch_of(strategy: Strategy, batch_size: int, index: int) -> int:
    """The 1-based batch of the index-th target (0-based, in the order the request listed them)."""
    return 1 if strategy is Strategy.ALL_AT_ONCE else index // batch_size + 1
