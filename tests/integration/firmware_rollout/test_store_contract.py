"""One contract for every DeploymentStore (and its Leases): memory, SQLite and PostgreSQL (conftest.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from services.firmware.domain.rollout import queries
from services.firmware.domain.rollout.deployment import DeploymentStatus, InstallOutcome, ScheduleType
from services.firmware.domain.rollout.job import JobOperation, JobStatus
from services.firmware.domain.rollout.planning import Target
from services.firmware.domain.rollout.progress import JobCount
from services.firmware.domain.rollout.validation import DeploymentFilter, JobFilter
from services.firmware.ports import DeploymentStore, Leases
from services.kernel.pagination import PageRequest
from tests.integration.firmware_rollout.conftest import Store
from tests.unit.firmware_rollout.builders import a_deployment, a_job
from tests.unit.firmware_rollout.fakes import T0

TARGETS = [Target(f"dev-{i:03d}", i // 2 + 1, "v2.0.0" if i else None) for i in range(5)]


async def test_a_deployment_round_trips_with_every_field(store: Store) -> None:
    deployment = a_deployment(
        status=DeploymentStatus.ROLLING_BACK,
        schedule_type=ScheduleType.SCHEDULED,
        scheduled_start=T0 + timedelta(hours=1),
        completed_at=T0 + timedelta(hours=2, milliseconds=5),
        halt_reason="batch 2: 7/10 succeeded (70%) < 95%",
        install_outcome=InstallOutcome.HALTED,
        operation=JobOperation.ROLLBACK,
        success_threshold=87.5,
        revision=3,
    )
    await store.add_deployment(deployment, TARGETS)
    assert await store.get_deployment(deployment.deployment_id) == deployment
    assert await store.get_deployment("dep-missing") is None
    assert await store.targets_of_batch(deployment.deployment_id, 2) == TARGETS[2:4]
    assert await store.targets_of_batch(deployment.deployment_id, 9) == []


async def test_saving_a_deployment_compares_its_revision_and_adds_the_batch_jobs_with_it(store: Store) -> None:
    deployment = a_deployment()
    await store.add_deployment(deployment, TARGETS)
    jobs = [a_job(deployment, "dev-000"), a_job(deployment, "dev-001")]
    moved = replace(deployment, current_batch=2, revision=1)

    assert not await store.save_deployment(moved, expected_revision=5, new_jobs=jobs)
    assert await store.get_deployment(deployment.deployment_id) == deployment
    assert await store.jobs(deployment.deployment_id, queries.JobQuery()) == [], "no jobs without the save"

    assert await store.save_deployment(moved, expected_revision=0, new_jobs=jobs)
    assert await store.get_deployment(deployment.deployment_id) == moved
    assert await store.jobs(deployment.deployment_id, queries.JobQuery()) == jobs

    # The same device and operation again (a repeated batch start) keeps the job that exists.
    again = [a_job(deployment, "dev-000"), a_job(deployment, "dev-002")]
    assert await store.save_deployment(replace(moved, revision=2), expected_revision=1, new_jobs=again)
    stored = await store.jobs(deployment.deployment_id, queries.JobQuery())
    assert [j.job_id for j in stored] == [jobs[0].job_id, jobs[1].job_id, again[1].job_id]


async def test_deployments_are_listed_newest_first_by_organization_status_and_firmware(store: Store) -> None:
    made = []
    for i in range(5):
        d = a_deployment(
            created_at=T0 + timedelta(minutes=i),
            status=DeploymentStatus.COMPLETED if i % 2 else DeploymentStatus.IN_PROGRESS,
        )
        made.append(d)
        await store.add_deployment(d, [])
    await store.add_deployment(a_deployment(org_id="org-2"), [])

    page = await store.list_deployments("org-1", DeploymentFilter(), PageRequest(1, 2))
    assert [d.deployment_id for d in page.items] == [made[4].deployment_id, made[3].deployment_id]
    assert page.total_items == 5
    completed = await store.list_deployments(
        "org-1", DeploymentFilter(status=DeploymentStatus.COMPLETED), PageRequest()
    )
    assert [d.deployment_id for d in completed.items] == [made[3].deployment_id, made[1].deployment_id]
    other = await store.list_deployments("org-1", DeploymentFilter(firmware_id="fw-other"), PageRequest())
    assert other.items == []
    assert other.total_items == 0


async def test_a_job_round_trips_and_saves_compare_its_version(store: Store) -> None:
    deployment = a_deployment()
    await store.add_deployment(deployment, TARGETS)
    job = a_job(deployment, status_details={"progress": "40%", "step": "download"})
    await store.save_deployment(replace(deployment, revision=1), expected_revision=0, new_jobs=[job])
    assert await store.get_job(job.job_id) == job
    assert await store.get_job("job-missing") is None

    changed = replace(
        job,
        status=JobStatus.IN_PROGRESS,
        version_number=2,
        active_since=T0 + timedelta(seconds=30),
        updated_at=T0 + timedelta(seconds=30),
    )
    assert await store.save_job(changed, expected_version=1)
    assert not await store.save_job(replace(changed, status=JobStatus.FAILED, version_number=3), expected_version=1)
    assert await store.get_job(job.job_id) == changed


async def test_concurrent_reports_on_one_job_version_let_exactly_one_win(store: Store) -> None:
    deployment = a_deployment()
    await store.add_deployment(deployment, TARGETS)
    job = a_job(deployment)
    await store.save_deployment(replace(deployment, revision=1), expected_revision=0, new_jobs=[job])
    outcomes = await asyncio.gather(
        *(
            store.save_job(replace(job, status=status, version_number=2), expected_version=1)
            for status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.IN_PROGRESS, JobStatus.REJECTED)
        )
    )
    assert sorted(outcomes) == [False, False, False, True]


async def test_marking_notified_records_only_the_current_attempt(store: Store) -> None:
    deployment = a_deployment()
    await store.add_deployment(deployment, TARGETS)
    job = a_job(deployment)
    await store.save_deployment(replace(deployment, revision=1), expected_revision=0, new_jobs=[job])
    sent_at = T0 + timedelta(seconds=5)
    assert not await store.mark_notified(job.job_id, 2, sent_at)
    assert await store.mark_notified(job.job_id, 1, sent_at)
    stored = await store.get_job(job.job_id)
    assert stored is not None
    assert (stored.notified_attempt, stored.active_since, stored.version_number) == (1, sent_at, 1)


async def test_the_orchestrators_job_selections(store: Store) -> None:
    deployment = a_deployment()
    await store.add_deployment(deployment, TARGETS)
    t = T0 + timedelta(minutes=10)
    unsent = a_job(deployment, "dev-000")
    sent_silent = a_job(deployment, "dev-001", notified_attempt=1, active_since=t - timedelta(minutes=5))
    sent_recent = a_job(deployment, "dev-002", notified_attempt=1, active_since=t, status=JobStatus.IN_PROGRESS)
    failed_once = a_job(deployment, "dev-003", status=JobStatus.FAILED, notified_attempt=1, active_since=t)
    failed_twice = a_job(deployment, "dev-004", status=JobStatus.TIMED_OUT, attempt=2, notified_attempt=2)
    rollback = a_job(deployment, "dev-005", operation=JobOperation.ROLLBACK)
    jobs = [unsent, sent_silent, sent_recent, failed_once, failed_twice, rollback]
    await store.save_deployment(replace(deployment, revision=1), expected_revision=0, new_jobs=jobs)
    dep = deployment.deployment_id

    def ids(found: list) -> list[str]:  # type: ignore[type-arg]
        return [j.device_id for j in found]

    assert ids(await store.jobs(dep, queries.to_send(JobOperation.INSTALL))) == ["dev-000"]
    assert ids(await store.jobs(dep, queries.to_send(JobOperation.ROLLBACK))) == ["dev-005"]
    since = t - timedelta(minutes=1)
    assert ids(await store.jobs(dep, queries.silent(JobOperation.INSTALL, since))) == ["dev-001"]
    assert ids(await store.jobs(dep, queries.silent(JobOperation.INSTALL, t))) == ["dev-001", "dev-002"]
    assert ids(await store.jobs(dep, queries.to_retry(JobOperation.INSTALL, 1))) == ["dev-003"]
    assert ids(await store.jobs(dep, queries.to_retry(JobOperation.INSTALL, 2))) == ["dev-003", "dev-004"]
    assert ids(await store.jobs(dep, queries.open_jobs(other_than=JobOperation.INSTALL))) == ["dev-005"]
    assert ids(await store.jobs(dep, queries.open_jobs())) == ["dev-000", "dev-001", "dev-002", "dev-005"]

    counts = await store.job_counts(dep)
    assert sorted(counts, key=lambda c: (c.operation, c.status, c.attempt)) == sorted(
        [
            JobCount(1, JobOperation.INSTALL, JobStatus.QUEUED, 1, 2),
            JobCount(1, JobOperation.INSTALL, JobStatus.IN_PROGRESS, 1, 1),
            JobCount(1, JobOperation.INSTALL, JobStatus.FAILED, 1, 1),
            JobCount(1, JobOperation.INSTALL, JobStatus.TIMED_OUT, 2, 1),
            JobCount(1, JobOperation.ROLLBACK, JobStatus.QUEUED, 1, 1),
        ],
        key=lambda c: (c.operation, c.status, c.attempt),
    )


async def test_jobs_are_listed_by_status_and_batch_and_a_devices_open_jobs_oldest_first(store: Store) -> None:
    first, second = a_deployment(), a_deployment()
    for d in (first, second):
        await store.add_deployment(d, TARGETS)
    older = a_job(first, "dev-007", batch_id=2, status=JobStatus.IN_PROGRESS)
    done = a_job(first, "dev-001", status=JobStatus.SUCCEEDED)
    newer = a_job(second, "dev-007", queued_at=T0 + timedelta(hours=1))
    await store.save_deployment(replace(first, revision=1), expected_revision=0, new_jobs=[older, done])
    await store.save_deployment(replace(second, revision=1), expected_revision=0, new_jobs=[newer])

    page = await store.list_jobs(first.deployment_id, JobFilter(), PageRequest(1, 1))
    assert [j.job_id for j in page.items] == [done.job_id]
    assert page.total_items == 2
    in_batch = await store.list_jobs(first.deployment_id, JobFilter(batch_id=2), PageRequest())
    assert [j.job_id for j in in_batch.items] == [older.job_id]
    succeeded = await store.list_jobs(first.deployment_id, JobFilter(status=JobStatus.SUCCEEDED), PageRequest())
    assert [j.job_id for j in succeeded.items] == [done.job_id]
    assert [j.job_id for j in await store.open_jobs_of_device("dev-007")] == [older.job_id, newer.job_id]
    assert await store.open_jobs_of_device("dev-001") == []


async def test_deployments_to_drive(store: Store) -> None:
    now = T0 + timedelta(hours=1)
    running = a_deployment()
    due = a_deployment(status=DeploymentStatus.SCHEDULED, scheduled_start=now, current_batch=0)
    later = a_deployment(status=DeploymentStatus.SCHEDULED, scheduled_start=now + timedelta(seconds=1))
    rolling = a_deployment(status=DeploymentStatus.ROLLING_BACK, operation=JobOperation.ROLLBACK)
    stopped_with_open_job = a_deployment(status=DeploymentStatus.CANCELLED)
    stopped_clean = a_deployment(status=DeploymentStatus.COMPLETED)
    for d in (running, due, later, rolling, stopped_with_open_job, stopped_clean):
        await store.add_deployment(d, [])
    await store.save_deployment(
        replace(stopped_with_open_job, revision=1),
        expected_revision=0,
        new_jobs=[a_job(stopped_with_open_job)],
    )
    await store.save_deployment(
        replace(stopped_clean, revision=1),
        expected_revision=0,
        new_jobs=[a_job(stopped_clean, status=JobStatus.SUCCEEDED)],
    )
    expected = sorted(d.deployment_id for d in (running, due, rolling, stopped_with_open_job))
    assert await store.deployments_to_drive(now) == expected


async def test_a_lease_has_one_holder_until_released_or_expired(store: Store) -> None:
    assert await store.try_acquire("firmware-orchestrator", "a", 30)
    assert not await store.try_acquire("firmware-orchestrator", "b", 30)
    assert await store.try_acquire("firmware-orchestrator", "a", 30), "the holder may take it again"
    assert await store.try_acquire("other-lease", "b", 30), "leases are named"
    assert await store.renew("firmware-orchestrator", "a", 30)
    assert not await store.renew("firmware-orchestrator", "b", 30)

    await store.release("firmware-orchestrator", "b")  # not b's: nothing happens
    assert not await store.try_acquire("firmware-orchestrator", "b", 30)
    await store.release("firmware-orchestrator", "a")
    assert await store.try_acquire("firmware-orchestrator", "b", 0.2)
    assert not await store.renew("firmware-orchestrator", "a", 30)

    await asyncio.sleep(0.35)  # b's short lease runs out on the store's clock
    assert await store.try_acquire("firmware-orchestrator", "a", 30)
    assert not await store.renew("firmware-orchestrator", "b", 30)


def test_every_store_is_a_deployment_store_and_leases(store: Store) -> None:
    # mypy checks the assignments against the ports; the run checks the methods exist.
    deployments: DeploymentStore = store
    leases: Leases = store
    assert callable(deployments.save_deployment)
    assert callable(leases.try_acquire)
