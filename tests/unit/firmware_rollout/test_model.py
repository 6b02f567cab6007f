"""Pure rollout rules: batch planning, the job state machine, progress counting and batch decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.firmware.domain.rollout.decisions import Step, decide
from services.firmware.domain.rollout.deployment import (
    BatchStatus,
    DeploymentStatus,
    InstallOutcome,
    Strategy,
    batch_sizes,
)
from services.firmware.domain.rollout.execution import apply_report, refusal, retry, time_out
from services.firmware.domain.rollout.job import JobOperation, JobReport, JobStatus
from services.firmware.domain.rollout.planning import plan_targets
from services.firmware.domain.rollout.progress import JobCount, view
from tests.unit.firmware_rollout.builders import a_deployment, a_job
from tests.unit.firmware_rollout.fakes import T0, fleet

INSTALL = JobOperation.INSTALL


@pytest.mark.parametrize(
    ("strategy", "batch_size", "targets", "sizes"),
    [
        (Strategy.STAGED, 10, 30, [10, 10, 10]),
        (Strategy.STAGED, 10, 25, [10, 10, 5]),
        (Strategy.STAGED, 10, 3, [3]),
        (Strategy.STAGED, 1, 3, [1, 1, 1]),
        (Strategy.ALL_AT_ONCE, 10, 25, [25]),
        (Strategy.STAGED, 10, 0, []),
    ],
)
def test_batch_sizes(strategy: Strategy, batch_size: int, targets: int, sizes: list[int]) -> None:
    assert batch_sizes(strategy, batch_size, targets) == sizes


def test_targets_keep_the_request_order_and_their_previous_version() -> None:
    devices = fleet(5)
    targets = plan_targets(Strategy.STAGED, 2, devices)
    assert [(t.device_id, t.batch_id) for t in targets] == [
        ("dev-000", 1),
        ("dev-001", 1),
        ("dev-002", 2),
        ("dev-003", 2),
        ("dev-004", 3),
    ]
    assert {t.previous_version for t in targets} == {"v2.0.0"}
    # Offline devices (dev-000 in this fleet) are planned like the others.
    assert not devices[0].online


def test_the_job_state_machine() -> None:
    job = a_job(a_deployment())
    report = JobReport(job.job_id, job.device_id, JobStatus.IN_PROGRESS, T0, {"step": "download"})
    assert refusal(job, report) is None
    later = T0 + timedelta(seconds=5)
    started = apply_report(job, report, later)
    assert (started.status, started.version_number, started.active_since) == (JobStatus.IN_PROGRESS, 2, later)
    assert refusal(started, replace(report, expected_version=1)) == "VERSION_MISMATCH"
    assert refusal(started, replace(report, device_id="dev-999")) == "JOB_NOT_FOUND"
    assert refusal(None, report) == "JOB_NOT_FOUND"
    assert refusal(started, replace(report, status=JobStatus.CANCELED)) == "INVALID_STATUS"
    done = apply_report(started, replace(report, status=JobStatus.SUCCEEDED), later)
    assert refusal(done, replace(report, status=JobStatus.FAILED)) == "JOB_ALREADY_FINISHED"

    expired = time_out(started, later, 600)
    assert (expired.status, expired.version_number, expired.status_details["reason"]) == (
        JobStatus.TIMED_OUT,
        3,
        "no report for 600 s",
    )
    assert expired.retryable(1)
    assert not expired.final(1)
    again = retry(expired, later)
    assert (again.status, again.attempt, again.version_number, again.active_since) == (JobStatus.QUEUED, 2, 4, None)
    assert again.waiting_to_be_sent()
    assert not retry(again, later).retryable(1), "attempt 3 is past one retry"
    rejected = apply_report(started, replace(report, status=JobStatus.REJECTED), later)
    assert not rejected.retryable(5)
    assert rejected.final(5)


def test_a_job_times_out_only_once_sent_and_silent_for_the_timeout() -> None:
    job = a_job(a_deployment())
    assert not job.timed_out(T0 + timedelta(days=1), 60), "never sent: nothing to wait for"
    sent = replace(job, notified_attempt=1, active_since=T0)
    assert not sent.timed_out(T0 + timedelta(seconds=59), 60)
    assert sent.timed_out(T0 + timedelta(seconds=60), 60)


def counts(*rows: tuple[int, JobStatus, int, int]) -> list[JobCount]:
    return [JobCount(batch, INSTALL, status, attempt, n) for batch, status, attempt, n in rows]


def test_progress_places_every_status_and_adds_up_to_the_total() -> None:
    deployment = a_deployment(current_batch=2, target_count=30, max_retries=1)
    shown = view(
        deployment,
        counts(
            (1, JobStatus.SUCCEEDED, 1, 9),
            (1, JobStatus.REJECTED, 1, 1),
            (2, JobStatus.SUCCEEDED, 2, 3),
            (2, JobStatus.IN_PROGRESS, 1, 2),
            (2, JobStatus.QUEUED, 2, 1),
            (2, JobStatus.FAILED, 1, 1),  # to be retried: pending
            (2, JobStatus.TIMED_OUT, 2, 1),  # no attempt left: failed
            (2, JobStatus.CANCELED, 1, 2),
        ),
    )
    p = shown.progress
    assert (p.total, p.succeeded, p.failed, p.in_progress, p.pending) == (30, 12, 2, 2, 14)
    assert p.succeeded + p.failed + p.in_progress + p.pending == p.total
    assert [(b.status, b.success_rate) for b in shown.batches] == [
        (BatchStatus.COMPLETED, 90.0),
        (BatchStatus.IN_PROGRESS, 30.0),
        (BatchStatus.PENDING, 0.0),
    ]


def test_rollback_progress_counts_the_rollback_jobs_and_the_batches_keep_the_install() -> None:
    deployment = a_deployment(
        status=DeploymentStatus.ROLLING_BACK,
        operation=JobOperation.ROLLBACK,
        install_outcome=InstallOutcome.HALTED,
        current_batch=2,
    )
    rows = [
        *counts((1, JobStatus.SUCCEEDED, 1, 10), (2, JobStatus.SUCCEEDED, 1, 6), (2, JobStatus.FAILED, 2, 4)),
        JobCount(1, JobOperation.ROLLBACK, JobStatus.SUCCEEDED, 1, 12),
        JobCount(2, JobOperation.ROLLBACK, JobStatus.QUEUED, 1, 4),
    ]
    shown = view(deployment, rows)
    assert (shown.progress.total, shown.progress.succeeded, shown.progress.pending) == (16, 12, 4)
    assert [b.status for b in shown.batches] == [BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLED]
    assert decide(deployment, rows).step is Step.WAIT
    done = [*rows[:-1], JobCount(2, JobOperation.ROLLBACK, JobStatus.REJECTED, 1, 4)]
    assert decide(deployment, done).step is Step.ROLLED_BACK


def test_a_batch_is_decided_only_when_every_job_is_final_and_the_threshold_is_exact() -> None:
    deployment = a_deployment(batch_size=20, target_count=40, current_batch=1, max_retries=0)
    assert decide(deployment, counts((1, JobStatus.SUCCEEDED, 1, 19), (1, JobStatus.IN_PROGRESS, 1, 1))).step is (
        Step.WAIT
    )
    assert decide(deployment, counts((1, JobStatus.SUCCEEDED, 1, 19))).step is Step.WAIT, "a job not created"
    ok = decide(deployment, counts((1, JobStatus.SUCCEEDED, 1, 19), (1, JobStatus.FAILED, 1, 1)))
    assert ok.step is Step.NEXT_BATCH, "19/20 is exactly 95 %"
    halted = decide(deployment, counts((1, JobStatus.SUCCEEDED, 1, 18), (1, JobStatus.TIMED_OUT, 1, 2)))
    assert (halted.step, halted.reason) == (Step.HALT, "batch 1: 18/20 succeeded (90%) < 95%")
    retrying = replace(deployment, max_retries=1)
    assert decide(retrying, counts((1, JobStatus.SUCCEEDED, 1, 18), (1, JobStatus.FAILED, 1, 2))).step is Step.WAIT
    last = replace(deployment, current_batch=2)
    assert decide(last, counts((2, JobStatus.SUCCEEDED, 1, 20))).step is Step.COMPLETE
    odd = a_deployment(batch_size=3, target_count=3, success_threshold=66.7, max_retries=0)
    reason = decide(odd, counts((1, JobStatus.SUCCEEDED, 1, 2), (1, JobStatus.REJECTED, 1, 1))).reason
    assert reason == "batch 1: 2/3 succeeded (66.67%) < 66.7%"
