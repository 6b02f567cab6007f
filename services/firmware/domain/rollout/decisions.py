"""What the orchestrator does with a deployment once its jobs moved (spec §4.6–4.7), and the status changes.

A batch is decided once every one of its jobs is final (timeouts make sure that happens): a success rate at or
above the threshold starts the next batch (or completes the deployment after the last one); below it the
deployment halts with a reason naming the batch and the numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from services.firmware.domain.rollout.deployment import Deployment, DeploymentStatus, InstallOutcome, batch_sizes
from services.firmware.domain.rollout.job import JobOperation
from services.firmware.domain.rollout.progress import JobCount, tally


class Step(Enum):
    WAIT = "wait"
    NEXT_BATCH = "next_batch"
    COMPLETE = "complete"
    HALT = "halt"
    ROLLED_BACK = "rolled_back"


@dataclass(frozen=True)
class Decision:
    step: Step
    reason: str | None = None


WAIT = Decision(Step.WAIT)


def _percent(value: float) -> str:
    return f"{value:g}%"


def decide(deployment: Deployment, counts: Iterable[JobCount]) -> Decision:
    counts = list(counts)
    if deployment.status is DeploymentStatus.ROLLING_BACK:
        rollbacks = tally((c for c in counts if c.operation is JobOperation.ROLLBACK), deployment.max_retries)
        return Decision(Step.ROLLED_BACK) if rollbacks.final == rollbacks.jobs else WAIT
    if deployment.status is not DeploymentStatus.IN_PROGRESS:
        return WAIT
    batch = deployment.current_batch
    devices = batch_sizes(deployment.strategy, deployment.batch_size, deployment.target_count)[batch - 1]
    installs = [c for c in counts if c.operation is JobOperation.INSTALL and c.batch_id == batch]
    t = tally(installs, deployment.max_retries)
    if t.final < devices:
        return WAIT
    # Integers on both sides: 95 % of 20 devices is exactly 19, whatever floating point says.
    if t.succeeded * 100 < deployment.success_threshold * devices:
        # Two decimals, so that a rate just below the threshold does not read as equal to it.
        rate = round(100.0 * t.succeeded / devices, 2)
        reason = (
            f"batch {batch}: {t.succeeded}/{devices} succeeded ({_percent(rate)}) "
            f"< {_percent(deployment.success_threshold)}"
        )
        return Decision(Step.HALT, reason)
    return Decision(Step.NEXT_BATCH) if batch < deployment.batch_count else Decision(Step.COMPLETE)


def _next(deployment: Deployment, **changes: object) -> Deployment:
    return replace(deployment, revision=deployment.revision + 1, **changes)  # type: ignore[arg-type]


def start(deployment: Deployment, now: datetime) -> Deployment:
    return _next(deployment, status=DeploymentStatus.IN_PROGRESS, started_at=now, current_batch=1)


def next_batch(deployment: Deployment) -> Deployment:
    return _next(deployment, current_batch=deployment.current_batch + 1)


def complete(deployment: Deployment, now: datetime) -> Deployment:
    return _next(
        deployment, status=DeploymentStatus.COMPLETED, install_outcome=InstallOutcome.COMPLETED, completed_at=now
    )


def halt(deployment: Deployment, reason: str, now: datetime) -> Deployment:
    return _next(
        deployment,
        status=DeploymentStatus.HALTED,
        install_outcome=InstallOutcome.HALTED,
        halt_reason=reason,
        completed_at=now,
    )


def _stopped_outcome(deployment: Deployment) -> InstallOutcome:
    return deployment.install_outcome or InstallOutcome.CANCELLED


def cancel(deployment: Deployment, reason: str, now: datetime) -> Deployment:
    return _next(
        deployment,
        status=DeploymentStatus.CANCELLED,
        install_outcome=_stopped_outcome(deployment),
        halt_reason=reason,
        completed_at=now,
    )


def begin_rollback(deployment: Deployment, reason: str, now: datetime) -> Deployment:
    return _next(
        deployment,
        status=DeploymentStatus.ROLLING_BACK,
        install_outcome=_stopped_outcome(deployment),
        operation=JobOperation.ROLLBACK,
        halt_reason=reason,
        completed_at=None,
    )


def rolled_back(deployment: Deployment, now: datetime) -> Deployment:
    return _next(deployment, status=DeploymentStatus.ROLLED_BACK, completed_at=now)
