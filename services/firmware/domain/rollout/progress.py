"""Progress and batch success rates (spec §3.4.5), computed from job counts the store groups.

Where each job status counts (total = succeeded + failed + inProgress + pending):
- succeeded: SUCCEEDED;
- failed: REJECTED, and FAILED or TIMED_OUT with no attempt left;
- inProgress: IN_PROGRESS (the device said it started);
- pending: everything else — devices of batches not started, QUEUED jobs (sent or not), FAILED or TIMED_OUT
  jobs about to be retried, and CANCELED jobs (the device never got the version).
Progress counts the jobs of the deployment's current operation: the install, then the rollback jobs once a
rollback started (the batches keep showing how the install went).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.firmware.domain.rollout.deployment import BatchStatus, Deployment, batch_sizes
from services.firmware.domain.rollout.execution import RETRYABLE
from services.firmware.domain.rollout.job import JobOperation, JobStatus


@dataclass(frozen=True)
class JobCount:
    """How many jobs of one batch and operation are in one status at one attempt (a GROUP BY row)."""

    batch_id: int
    operation: JobOperation
    status: JobStatus
    attempt: int
    count: int


@dataclass(frozen=True)
class Tally:
    succeeded: int = 0
    failed: int = 0
    in_progress: int = 0
    # Jobs that exist and will change no more (succeeded, failed for good, or cancelled).
    final: int = 0
    jobs: int = 0


def tally(counts: Iterable[JobCount], max_retries: int) -> Tally:
    succeeded = failed = in_progress = final = jobs = 0
    for c in counts:
        jobs += c.count
        if c.status is JobStatus.SUCCEEDED:
            succeeded += c.count
            final += c.count
        elif c.status is JobStatus.REJECTED or (c.status in RETRYABLE and c.attempt > max_retries):
            failed += c.count
            final += c.count
        elif c.status is JobStatus.CANCELED:
            final += c.count
        elif c.status is JobStatus.IN_PROGRESS:
            in_progress += c.count
    return Tally(succeeded, failed, in_progress, final, jobs)


@dataclass(frozen=True)
class Progress:
    total: int
    succeeded: int
    failed: int
    in_progress: int
    pending: int


@dataclass(frozen=True)
class BatchView:
    batch_id: int
    devices: int
    status: BatchStatus
    # Percent of the batch's devices whose install succeeded so far.
    success_rate: float


@dataclass(frozen=True)
class DeploymentView:
    """A deployment with everything §3.4.5 shows: progress and batches."""

    deployment: Deployment
    progress: Progress
    batches: list[BatchView]


def success_rate(succeeded: int, devices: int) -> float:
    return round(100.0 * succeeded / devices, 1) if devices else 0.0


def view(deployment: Deployment, counts: Iterable[JobCount]) -> DeploymentView:
    counts = list(counts)
    current = [c for c in counts if c.operation is deployment.operation]
    t = tally(current, deployment.max_retries)
    total = deployment.target_count if deployment.operation is JobOperation.INSTALL else t.jobs
    progress = Progress(total, t.succeeded, t.failed, t.in_progress, total - t.succeeded - t.failed - t.in_progress)
    batches = []
    sizes = batch_sizes(deployment.strategy, deployment.batch_size, deployment.target_count)
    for batch_id, devices in enumerate(sizes, 1):
        installs = [c for c in counts if c.operation is JobOperation.INSTALL and c.batch_id == batch_id]
        rate = success_rate(tally(installs, deployment.max_retries).succeeded, devices)
        batches.append(BatchView(batch_id, devices, deployment.batch_status(batch_id), rate))
    return DeploymentView(deployment, progress, batches)
