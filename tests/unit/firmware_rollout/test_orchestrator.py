"""The orchestrator and monitor on the in-memory store, with a recording job channel and a fake clock."""

from __future__ import annotations

from collections import Counter

import pytest

from services.firmware.domain.rollout.deployment import BatchStatus, DeploymentStatus
from services.firmware.domain.rollout.execution import Job
from services.firmware.domain.rollout.job import JobOperation, JobStatus
from services.firmware.domain.rollout.queries import JobQuery
from services.firmware.orchestrator import Orchestrator
from services.kernel.errors import Conflict
from tests.unit.firmware_rollout.fakes import OPERATOR, FakeClock, RecordingChannel, Rig, fleet


def orchestrator(rig: Rig, holder: str = "replica-a") -> Orchestrator:
    return Orchestrator(rig.service, rig.store, holder=holder)  # type: ignore[arg-type]


async def jobs_of(rig: Rig, deployment_id: str) -> list[Job]:
    return await rig.store.jobs(deployment_id, JobQuery())


async def run_to_rest(rig: Rig, orch: Orchestrator, rounds: int = 10, **answers: object) -> None:
    """Tick and let every device that got a job answer, until nothing more moves."""
    for _ in range(rounds):
        await orch.tick()
        if not await rig.answer_sent(**answers):  # type: ignore[arg-type]
            await orch.tick()
            return


async def test_thirty_devices_in_batches_of_ten_complete_batch_after_batch() -> None:
    rig = Rig(fleet(30))
    orch = orchestrator(rig)
    dep = await rig.create([d.device_id for d in fleet(30)], batch_size=10)

    await orch.tick()
    assert len(rig.channel.sent) == 10, "only the first batch is sent"
    view = await rig.service.get_deployment(OPERATOR, dep)
    assert view.deployment.status is DeploymentStatus.IN_PROGRESS
    assert [b.status for b in view.batches] == [BatchStatus.IN_PROGRESS, BatchStatus.PENDING, BatchStatus.PENDING]
    assert (view.progress.total, view.progress.pending) == (30, 30)

    await rig.answer_sent()
    await orch.tick()
    assert len(rig.channel.sent) == 20
    mid = await rig.service.get_deployment(OPERATOR, dep)
    assert [b.status for b in mid.batches] == [BatchStatus.COMPLETED, BatchStatus.IN_PROGRESS, BatchStatus.PENDING]
    assert [b.success_rate for b in mid.batches] == [100.0, 0.0, 0.0]
    assert (mid.progress.succeeded, mid.progress.pending) == (10, 20)

    await run_to_rest(rig, orch)
    done = await rig.service.get_deployment(OPERATOR, dep)
    assert done.deployment.status is DeploymentStatus.COMPLETED
    assert done.deployment.completed_at is not None
    assert (done.progress.total, done.progress.succeeded, done.progress.failed, done.progress.pending) == (30, 30, 0, 0)
    assert [b.status for b in done.batches] == [BatchStatus.COMPLETED] * 3
    assert len(rig.channel.sent) == 30 == len(set(rig.channel.sent))
    # Batches follow the request's order.
    sent_devices = [d.device_id for d in rig.channel.documents]
    ordered = [d.device_id for d in fleet(30)]
    assert [sorted(sent_devices[i : i + 10]) for i in (0, 10, 20)] == [ordered[i : i + 10] for i in (0, 10, 20)]
    succeeded = [j for j in rig.events.jobs if j.status is JobStatus.SUCCEEDED]
    assert sorted(j.device_id for j in succeeded) == sorted(d.device_id for d in fleet(30))
    assert rig.events.deployments[-1].deployment.status is DeploymentStatus.COMPLETED


async def test_a_batch_failing_twenty_percent_halts_the_rollout_with_the_numbers() -> None:
    rig = Rig(fleet(30))
    orch = orchestrator(rig)
    dep = await rig.create([d.device_id for d in fleet(30)], batch_size=10, max_retries=0)
    failing = {"dev-012": JobStatus.FAILED, "dev-017": JobStatus.REJECTED}

    await run_to_rest(rig, orch, status_of=failing)

    view = await rig.service.get_deployment(OPERATOR, dep)
    assert view.deployment.status is DeploymentStatus.HALTED
    assert view.deployment.halt_reason == "batch 2: 8/10 succeeded (80%) < 95%"
    assert [b.status for b in view.batches] == [BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLED]
    assert [b.success_rate for b in view.batches] == [100.0, 80.0, 0.0]
    assert (view.progress.succeeded, view.progress.failed, view.progress.pending) == (18, 2, 10)
    assert len(rig.channel.sent) == 20, "no job of batch 3 was sent"
    assert len(await jobs_of(rig, dep)) == 20, "nor created"
    assert rig.events.deployments[-1].deployment.halt_reason == view.deployment.halt_reason


async def test_a_failed_job_is_retried_once_then_counts_as_failed_but_rejected_is_never_retried() -> None:
    rig = Rig(fleet(10))
    orch = orchestrator(rig)
    dep = await rig.create([d.device_id for d in fleet(10)], batch_size=10, max_retries=1, success_threshold=80)

    await run_to_rest(rig, orch, status_of={"dev-003": JobStatus.FAILED, "dev-004": JobStatus.REJECTED})

    attempts = Counter(job_id for job_id, _ in rig.channel.sent)
    jobs = {j.device_id: j for j in await jobs_of(rig, dep)}
    assert attempts[jobs["dev-003"].job_id] == 2
    assert attempts[jobs["dev-004"].job_id] == 1
    assert (jobs["dev-003"].status, jobs["dev-003"].attempt) == (JobStatus.FAILED, 2)
    view = await rig.service.get_deployment(OPERATOR, dep)
    assert view.deployment.status is DeploymentStatus.COMPLETED  # 8/10 = 80 % meets the threshold of 80
    assert (view.progress.succeeded, view.progress.failed) == (8, 2)


async def test_a_silent_device_times_out_is_sent_again_then_fails_instead_of_hanging_the_batch() -> None:
    rig = Rig(fleet(10))
    orch = orchestrator(rig)
    dep = await rig.create([d.device_id for d in fleet(10)], batch_size=10, job_timeout_seconds=60, max_retries=1)
    silent = frozenset({"dev-005"})

    await run_to_rest(rig, orch, silent=silent)
    job = next(j for j in await jobs_of(rig, dep) if j.device_id == "dev-005")
    assert job.status is JobStatus.QUEUED
    rig.clock.advance(59)
    await orch.tick()
    assert (await rig.store.get_job(job.job_id)).status is JobStatus.QUEUED  # type: ignore[union-attr]

    rig.clock.advance(2)
    await orch.tick()
    retried = await rig.store.get_job(job.job_id)
    assert retried is not None
    assert (retried.status, retried.attempt, retried.notified_attempt) == (JobStatus.QUEUED, 2, 2)
    assert (job.job_id, 2) in rig.channel.sent
    statuses = [j.status for j in rig.events.jobs if j.job_id == job.job_id]
    assert statuses[-2:] == [JobStatus.TIMED_OUT, JobStatus.QUEUED]

    rig.clock.advance(61)
    await orch.tick()
    final = await rig.store.get_job(job.job_id)
    assert final is not None
    assert (final.status, final.attempt) == (JobStatus.TIMED_OUT, 2)
    view = await rig.service.get_deployment(OPERATOR, dep)
    assert view.deployment.status is DeploymentStatus.HALTED
    assert view.deployment.halt_reason == "batch 1: 9/10 succeeded (90%) < 95%"
    assert view.progress.failed == 1
    # A late answer from the device is refused: the job is finished.
    assert not await rig.report(job.job_id, "dev-005", JobStatus.SUCCEEDED)


async def test_a_device_that_keeps_reporting_in_progress_is_not_timed_out() -> None:
    rig = Rig(fleet(1))
    orch = orchestrator(rig)
    dep = await rig.create(["dev-000"], batch_size=1, job_timeout_seconds=60)
    await orch.tick()
    (job,) = await jobs_of(rig, dep)
    for _ in range(3):
        rig.clock.advance(50)
        assert await rig.report(job.job_id, "dev-000", JobStatus.IN_PROGRESS)
        await orch.tick()
    current = await rig.store.get_job(job.job_id)
    assert current is not None
    assert current.status is JobStatus.IN_PROGRESS


async def test_cancel_stops_the_rollout_cancels_open_jobs_and_tells_the_devices() -> None:
    rig = Rig(fleet(20))
    orch = orchestrator(rig)
    dep = await rig.create([d.device_id for d in fleet(20)], batch_size=10)
    await orch.tick()
    docs = list(rig.channel.documents)
    await rig.report(docs[0].job_id, docs[0].device_id, JobStatus.SUCCEEDED)
    await rig.report(docs[1].job_id, docs[1].device_id, JobStatus.IN_PROGRESS)

    view = await rig.service.cancel(OPERATOR, dep, "bad build")

    assert view.deployment.status is DeploymentStatus.CANCELLED
    assert view.deployment.halt_reason == "cancelled by user-op: bad build"
    assert [b.status for b in view.batches] == [BatchStatus.CANCELLED, BatchStatus.CANCELLED]
    jobs = {j.device_id: j for j in await jobs_of(rig, dep)}
    assert jobs[docs[0].device_id].status is JobStatus.SUCCEEDED
    assert sum(j.status is JobStatus.CANCELED for j in jobs.values()) == 9
    assert sorted(rig.channel.cancelled) == sorted(j.job_id for j in jobs.values() if j.status is JobStatus.CANCELED)
    assert (view.progress.succeeded, view.progress.pending) == (1, 19)

    await orch.tick()
    assert len(rig.channel.sent) == 10, "no new job after a cancel"
    assert not await rig.report(docs[1].job_id, docs[1].device_id, JobStatus.SUCCEEDED)
    assert await rig.service.next_job(docs[2].device_id) is None
    with pytest.raises(Conflict) as refused:
        await rig.service.cancel(OPERATOR, dep)
    assert refused.value.reason == "DEPLOYMENT_STATE_CONFLICT"


async def test_a_scheduled_deployment_starts_at_its_start_time() -> None:
    rig = Rig(fleet(3))
    orch = orchestrator(rig)
    start = rig.clock.now().replace(hour=15)
    dep = await rig.create(["dev-000", "dev-001"], batch_size=5, schedule_type="scheduled", start_time=start)
    await orch.tick()
    assert rig.channel.sent == []
    assert (await rig.service.get_deployment(OPERATOR, dep)).deployment.status is DeploymentStatus.SCHEDULED
    rig.clock.advance(3600)
    await orch.tick()
    view = await rig.service.get_deployment(OPERATOR, dep)
    assert view.deployment.status is DeploymentStatus.IN_PROGRESS
    assert view.deployment.started_at == rig.clock.now()
    assert len(rig.channel.sent) == 2


async def test_rollback_reinstalls_the_previous_version_where_the_install_took() -> None:
    devices = fleet(4)
    devices[3] = devices[3].__class__("dev-003", devices[3].device_type, None, True)  # no known previous version
    rig = Rig(devices)
    orch = orchestrator(rig)
    dep = await rig.create([d.device_id for d in devices], batch_size=4, success_threshold=50)
    await run_to_rest(rig, orch, status_of={"dev-002": JobStatus.FAILED}, default=JobStatus.SUCCEEDED)
    assert (await rig.service.get_deployment(OPERATOR, dep)).deployment.status is DeploymentStatus.COMPLETED
    sent_before = len(rig.channel.sent)

    view = await rig.service.rollback(OPERATOR, dep, "customers complain")

    assert view.deployment.status is DeploymentStatus.ROLLING_BACK
    assert "dev-003 (no previous version known)" in (view.deployment.halt_reason or "")
    assert "rollback requested by user-op: customers complain" in (view.deployment.halt_reason or "")
    rollbacks = await rig.store.jobs(dep, JobQuery(operation=JobOperation.ROLLBACK))
    assert sorted(j.device_id for j in rollbacks) == ["dev-000", "dev-001"]
    assert {(j.image.version, j.image.firmware_id) for j in rollbacks} == {("v2.0.0", "fw-old")}
    assert view.progress.total == 2
    assert [b.status for b in view.batches] == [BatchStatus.COMPLETED]

    await orch.tick()
    new_docs = rig.channel.documents[sent_before:]
    assert {(d.operation, d.firmware_version, d.download_url) for d in new_docs} == {
        (JobOperation.ROLLBACK, "v2.0.0", "https://downloads.example/firmware/fw-old.bin")
    }
    await run_to_rest(rig, orch)
    done = await rig.service.get_deployment(OPERATOR, dep)
    assert done.deployment.status is DeploymentStatus.ROLLED_BACK
    assert (done.progress.total, done.progress.succeeded) == (2, 2)
    reinstalled = [
        j for j in rig.events.jobs if j.operation is JobOperation.ROLLBACK and j.status is JobStatus.SUCCEEDED
    ]
    assert sorted((j.device_id, j.image.version) for j in reinstalled) == [("dev-000", "v2.0.0"), ("dev-001", "v2.0.0")]
    with pytest.raises(Conflict):
        await rig.service.rollback(OPERATOR, dep)


async def test_rolling_back_a_running_deployment_stops_it_first() -> None:
    rig = Rig(fleet(20))
    orch = orchestrator(rig)
    dep = await rig.create([d.device_id for d in fleet(20)], batch_size=10)
    await orch.tick()
    docs = list(rig.channel.documents)
    await rig.report(docs[0].job_id, docs[0].device_id, JobStatus.SUCCEEDED)
    await rig.report(docs[1].job_id, docs[1].device_id, JobStatus.IN_PROGRESS)

    view = await rig.service.rollback(OPERATOR, dep)

    assert view.deployment.status is DeploymentStatus.ROLLING_BACK
    assert [b.status for b in view.batches] == [BatchStatus.CANCELLED, BatchStatus.CANCELLED]
    installs = await rig.store.jobs(dep, JobQuery(operation=JobOperation.INSTALL))
    assert not [j for j in installs if j.open]
    rollbacks = await rig.store.jobs(dep, JobQuery(operation=JobOperation.ROLLBACK))
    assert sorted(j.device_id for j in rollbacks) == sorted([docs[0].device_id, docs[1].device_id])
    await run_to_rest(rig, orch)
    assert (await rig.service.get_deployment(OPERATOR, dep)).deployment.status is DeploymentStatus.ROLLED_BACK
    assert len(await jobs_of(rig, dep)) == 12, "batch 2 never started"


async def test_only_the_lease_holder_acts_and_another_takes_over_when_it_stops_renewing() -> None:
    clock = FakeClock()
    rig = Rig(fleet(20), clock=clock)
    second = Rig(fleet(20), clock=clock, store=rig.store, channel=RecordingChannel(rig.channel.sent))
    first_orch, second_orch = orchestrator(rig, "replica-a"), orchestrator(second, "replica-b")
    dep = await rig.create([d.device_id for d in fleet(20)], batch_size=10)

    assert await first_orch.tick()
    assert not await second_orch.tick()
    assert len(rig.channel.sent) == 10
    assert second.channel.documents == []

    clock.advance(4)
    assert await first_orch.tick(), "renewed in time"
    clock.advance(4)
    assert not await second_orch.tick(), "still held: the renewal moved the expiry"

    # replica-a stops renewing (dies); after the ttl replica-b takes over and carries on.
    clock.advance(6)
    await rig.answer_sent()
    assert await second_orch.tick()
    assert len(second.channel.documents) == 10, "replica-b sent batch 2"
    assert not await first_orch.tick(), "replica-a lost the lease"
    assert len(rig.channel.sent) == 20 == len(set(rig.channel.sent))
    view = await rig.service.get_deployment(OPERATOR, dep)
    assert [b.status for b in view.batches] == [BatchStatus.COMPLETED, BatchStatus.IN_PROGRESS]


async def test_a_crash_mid_batch_resumes_without_sending_any_attempt_twice() -> None:
    clock = FakeClock()
    sent: list[tuple[str, int]] = []
    rig = Rig(fleet(30), clock=clock, channel=RecordingChannel(sent))
    store = rig.store
    orch = orchestrator(rig, "replica-a")
    dep = await rig.create([d.device_id for d in fleet(30)], batch_size=10, job_timeout_seconds=30)
    await orch.tick()
    first_batch = list(rig.channel.documents)
    for doc in first_batch[:6]:
        await rig.report(doc.job_id, doc.device_id, JobStatus.SUCCEEDED)
    del orch, rig  # the process dies mid-batch: its lease is never released

    clock.advance(6)  # past the lease's ttl
    reborn = Rig(fleet(30), clock=clock, store=store, channel=RecordingChannel(sent))
    orch = orchestrator(reborn, "replica-a-restarted")
    assert await orch.tick()
    assert len(sent) == 10, "the restarted process sends nothing the first one had sent"
    for doc in first_batch[6:]:
        assert await reborn.report(doc.job_id, doc.device_id, JobStatus.SUCCEEDED)
    await run_to_rest(reborn, orch)

    view = await reborn.service.get_deployment(OPERATOR, dep)
    assert view.deployment.status is DeploymentStatus.COMPLETED
    assert view.progress.succeeded == 30
    assert len(sent) == 30 == len(set(sent)), Counter(sent).most_common(3)


async def test_jobs_the_channel_refused_are_sent_on_a_later_tick() -> None:
    rig = Rig(fleet(3))
    orch = orchestrator(rig)
    dep = await rig.create(["dev-000", "dev-001", "dev-002"], batch_size=3)
    rig.channel.failures = 1
    await orch.tick()
    assert rig.channel.sent == []
    assert all(j.notified_attempt == 0 for j in await jobs_of(rig, dep))
    await orch.tick()
    assert len(rig.channel.sent) == 3
    assert all(j.notified_attempt == 1 for j in await jobs_of(rig, dep))
