"""The DynamoDB JobStore under racing workers (moto in server mode): one claim wins, and the fence holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from services.analytics.adapters.jobs_dynamodb import DynamoDbJobStore
from services.analytics.domain.jobs import Job, JobKind, JobStatus
from tests.support.dynamodb import moto_dynamodb, unique_name

pytestmark = pytest.mark.needs_server


@pytest.fixture
async def jobs(request: pytest.FixtureRequest) -> AsyncIterator[DynamoDbJobStore]:
    async with moto_dynamodb(request) as client:
        opened = DynamoDbJobStore(client, unique_name("analytics-jobs"))
        await opened.ensure_table()
        yield opened


def export(job_id: str) -> Job:
    return Job(job_id, JobKind.EXPORT, "org-1", "user-1", "csv", "", {"deviceIds": ["d1"]}, JobStatus.QUEUED, 5, 9)


async def test_racing_claims_let_one_worker_build_and_fence_the_rest(jobs: DynamoDbJobStore) -> None:
    await jobs.add(export("e-1"))
    claims = await asyncio.gather(*(jobs.claim(JobKind.EXPORT, "e-1", now_ms=100, lease_ms=50) for _ in range(5)))
    won = [c for c in claims if c is not None]
    assert len(won) == 1
    assert (won[0].attempt, won[0].lease_until_ms) == (1, 150)

    taken_over = await jobs.claim(JobKind.EXPORT, "e-1", now_ms=151, lease_ms=50)
    assert taken_over is not None
    assert taken_over.attempt == 2
    finished = replace(taken_over, status=JobStatus.FAILED, error="boom", completed_at_ms=160)
    outcomes = await asyncio.gather(
        jobs.finish(JobKind.EXPORT, "e-1", 1, finished), jobs.finish(JobKind.EXPORT, "e-1", 2, finished)
    )
    assert list(outcomes) == [False, True]
    assert await jobs.count_waiting(JobKind.EXPORT) == 0
    assert await jobs.stale(now_ms=10**12, queued_before_ms=10**12, limit=5) == []
    stored = await jobs.get(JobKind.EXPORT, "e-1")
    assert stored is not None
    assert (stored.status, stored.error, stored.lease_until_ms, stored.parameters) == (
        JobStatus.FAILED,
        "boom",
        None,
        {"deviceIds": ["d1"]},
    )
