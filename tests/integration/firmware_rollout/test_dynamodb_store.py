"""What only the DynamoDB rollout store has: saves spanning several transactions, stopped deployments leaving
the watched index, and leases decided on the writers' clocks with a skew tolerance (moto in server mode)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from services.firmware.adapters.rollout_dynamodb import JOBS_PER_TRANSACTION, DynamoDbDeploymentStore
from services.firmware.domain.rollout import queries
from services.firmware.domain.rollout.deployment import DeploymentStatus
from services.firmware.domain.rollout.job import JobStatus
from tests.support.dynamodb import moto_dynamodb, unique_name
from tests.unit.firmware_rollout.builders import a_deployment, a_job
from tests.unit.firmware_rollout.fakes import T0, FakeClock

pytestmark = pytest.mark.needs_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def store(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[DynamoDbDeploymentStore]:
    async with moto_dynamodb(request) as client:
        opened = DynamoDbDeploymentStore(client, unique_name("rollout"), clock=clock, skew_tolerance_seconds=2)
        await opened.ensure_table()
        yield opened


async def test_a_batch_larger_than_one_transaction_is_saved_whole(store: DynamoDbDeploymentStore) -> None:
    deployment = a_deployment()
    await store.add_deployment(deployment, [])
    count = JOBS_PER_TRANSACTION * 2 + 7
    jobs = [a_job(deployment, f"dev-{i:04d}") for i in range(count)]

    assert await store.save_deployment(replace(deployment, revision=1), expected_revision=0, new_jobs=jobs)

    stored = await store.jobs(deployment.deployment_id, queries.JobQuery())
    assert [j.job_id for j in stored] == [j.job_id for j in jobs]
    assert await store.get_job(jobs[-1].job_id) == jobs[-1]
    assert not await store.save_deployment(replace(deployment, revision=2), expected_revision=0, new_jobs=jobs)


async def test_a_moved_revision_writes_no_job_of_a_large_batch(store: DynamoDbDeploymentStore) -> None:
    deployment = a_deployment(revision=3)
    await store.add_deployment(deployment, [])
    jobs = [a_job(deployment, f"dev-{i:04d}") for i in range(JOBS_PER_TRANSACTION + 1)]

    assert not await store.save_deployment(replace(deployment, revision=4), expected_revision=2, new_jobs=jobs)
    assert await store.jobs(deployment.deployment_id, queries.JobQuery()) == []
    assert await store.get_job(jobs[0].job_id) is None


async def test_a_stopped_deployment_is_driven_until_its_open_jobs_close(store: DynamoDbDeploymentStore) -> None:
    deployment = a_deployment(status=DeploymentStatus.CANCELLED)
    job = a_job(deployment)
    await store.add_deployment(deployment, [])
    await store.save_deployment(replace(deployment, revision=1), expected_revision=0, new_jobs=[job])
    assert await store.deployments_to_drive(T0) == [deployment.deployment_id]

    cancelled = replace(job, status=JobStatus.CANCELED, version_number=2)
    assert await store.save_job(cancelled, expected_version=1)
    assert await store.open_jobs_of_device(job.device_id) == []
    assert await store.deployments_to_drive(T0) == []
    stored = await store.get_deployment(deployment.deployment_id)
    assert stored == replace(deployment, revision=1), "letting it go changes nothing the domain sees"


async def test_a_lease_is_taken_over_only_past_its_expiry_and_the_skew_tolerance(
    store: DynamoDbDeploymentStore, clock: FakeClock
) -> None:
    assert await store.try_acquire("firmware-orchestrator", "a", 5)
    clock.advance(6)  # past a's expiry on this writer's clock, within the 2 s tolerance
    assert not await store.try_acquire("firmware-orchestrator", "b", 5)
    clock.advance(1.5)
    assert await store.try_acquire("firmware-orchestrator", "b", 5)
    assert not await store.renew("firmware-orchestrator", "a", 5)
    assert await store.renew("firmware-orchestrator", "b", 5)
