"""KinesisSource on the moto server: a real producer, two consumers, leases in DynamoDB (and SQLite)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aioboto3
import pytest

from services.kernel.ids import new_id
from services.telemetry.adapters.leases import LeaseStore
from services.telemetry.adapters.leases_dynamodb import DynamoDbLeaseStore
from services.telemetry.adapters.leases_sqlite import SqliteLeaseStore
from services.telemetry.domain.model import Source
from tests.integration.telemetry_sources.fakes import RecordingIngest
from tests.integration.telemetry_sources.kinesis_support import (
    checkpoints_reach,
    consuming,
    create_stream,
    eventually,
    merged,
    owners,
    produce,
)
from tests.support.moto import REGION

pytestmark = pytest.mark.needs_server


@pytest.fixture
async def kinesis(moto_endpoint: str) -> AsyncIterator[Any]:
    async with aioboto3.Session().client("kinesis", endpoint_url=moto_endpoint, region_name=REGION) as client:
        yield client


@pytest.fixture
async def stream(kinesis: Any) -> str:
    return await create_stream(kinesis, shards=2)


@pytest.fixture
async def leases(moto_endpoint: str, stream: str) -> AsyncIterator[LeaseStore]:
    async with aioboto3.Session().client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION) as client:
        store = DynamoDbLeaseStore(client, f"leases-{new_id('t')}", stream)
        await store.ensure_table()
        yield store


def counts(*ingests: RecordingIngest) -> Counter[bytes]:
    return Counter(payload for ingest in ingests for payload in ingest.payloads())


async def test_two_consumers_split_the_shards_and_see_every_record_once(
    kinesis: Any, stream: str, leases: LeaseStore
) -> None:
    left, right = RecordingIngest(), RecordingIngest()
    # Nobody dies here, so leases long enough that a stall of the in-process moto server (it shares our GIL)
    # never lets one expire: an expiry hands a shard over from its last checkpoint, which is at-least-once.
    steady = {"lease_seconds": 10.0}
    async with (
        consuming(kinesis, leases, stream, left, "worker-left", **steady) as first,
        consuming(kinesis, leases, stream, right, "worker-right", **steady) as second,
    ):
        await eventually(lambda: len(first.held_shards) == len(second.held_shards) == 1)
        (left_shard,) = first.held_shards
        produced = await produce(kinesis, stream, 400)
        assert len(produced.payloads) == 2  # the producer's keys spread over both shards
        await eventually(lambda: set(counts(left, right)) == produced.all())
        await checkpoints_reach(leases, produced.last_sequence)

    assert max(counts(left, right).values()) == 1
    assert left.distinct_taken() == produced.of(left_shard)
    assert all(len(batch) <= 25 for batch in left.taken + right.taken)
    assert left.taken[0][0].source is Source.KINESIS


async def test_the_shards_of_a_dead_consumer_are_taken_over_and_resume_from_its_checkpoint(
    kinesis: Any, stream: str, leases: LeaseStore
) -> None:
    survivor_ingest, dying_ingest = RecordingIngest(), RecordingIngest()
    async with consuming(kinesis, leases, stream, survivor_ingest, "survivor") as survivor:
        async with consuming(kinesis, leases, stream, dying_ingest, "dying", release_on_stop=False) as dying:
            await eventually(lambda: len(survivor.held_shards) == len(dying.held_shards) == 1)
            (dead_shard,) = dying.held_shards
            before = await produce(kinesis, stream, 300)
            await checkpoints_reach(leases, before.last_sequence)
        # The dying consumer stopped without releasing: its lease stays its own until it expires.
        assert owners(await leases.list())[dead_shard] == "dying"
        after = await produce(kinesis, stream, 300, start=300)
        await eventually(lambda: len(survivor.held_shards) == 2)
        await checkpoints_reach(leases, after.last_sequence)

    assert dying_ingest.distinct_taken() == before.of(dead_shard)
    assert not survivor_ingest.distinct_taken() & before.of(dead_shard)  # resumed after the checkpoint
    assert survivor_ingest.distinct_taken() == (merged(before, after).all() - before.of(dead_shard))
    assert max(counts(survivor_ingest, dying_ingest).values()) == 1


async def test_a_graceful_stop_hands_the_leases_over_at_once(kinesis: Any, stream: str, leases: LeaseStore) -> None:
    staying = RecordingIngest()
    async with consuming(kinesis, leases, stream, staying, "staying", lease_seconds=6) as stays:
        async with consuming(kinesis, leases, stream, RecordingIngest(), "leaving", lease_seconds=6) as leaves:
            await eventually(lambda: len(stays.held_shards) == len(leaves.held_shards) == 1)
        # Renewed at most 2 s ago (every lease_seconds / 3), the leaving lease would expire 4 s from now at
        # the earliest; released, it is taken at the next round.
        await eventually(lambda: len(stays.held_shards) == 2, within=3.5)
        produced = await produce(kinesis, stream, 100)
        await eventually(lambda: staying.distinct_taken() == produced.all())


async def test_a_restarted_consumer_resumes_after_the_checkpoint(kinesis: Any, stream: str, tmp_path: Path) -> None:
    leases = SqliteLeaseStore(tmp_path / "leases.db", stream)  # the embedded lease table this time
    first = RecordingIngest()
    async with consuming(kinesis, leases, stream, first, "worker"):
        before = await produce(kinesis, stream, 200)
        await checkpoints_reach(leases, before.last_sequence)
    after = await produce(kinesis, stream, 200, start=200)

    second = RecordingIngest()
    async with consuming(kinesis, leases, stream, second, "worker"):
        await eventually(lambda: second.distinct_taken() == after.all())
        await checkpoints_reach(leases, after.last_sequence)
        await asyncio.sleep(0.3)

    assert first.distinct_taken() == before.all()
    assert sorted(second.payloads()) == sorted(p for payloads in after.payloads.values() for p in payloads)
    await leases.close()


async def test_a_batch_whose_ingest_fails_is_not_checkpointed_and_is_read_again(
    kinesis: Any, stream: str, leases: LeaseStore
) -> None:
    failing = RecordingIngest(fail_when=lambda call: True)
    async with consuming(kinesis, leases, stream, failing, "worker"):
        produced = await produce(kinesis, stream, 60)
        await eventually(lambda: len(failing.offered) >= 3)
    assert not failing.taken
    assert all(lease.checkpoint is None for lease in await leases.list())

    working = RecordingIngest()
    async with consuming(kinesis, leases, stream, working, "worker"):
        await eventually(lambda: working.distinct_taken() == produced.all())
        await checkpoints_reach(leases, produced.last_sequence)


async def test_a_shard_stays_with_one_consumer_while_its_lease_is_renewed(
    kinesis: Any, stream: str, leases: LeaseStore
) -> None:
    ingest = RecordingIngest()
    async with consuming(kinesis, leases, stream, ingest, "holder") as holder:
        await eventually(lambda: len(holder.held_shards) == 2)
        counters = {lease.shard_id: lease.counter for lease in await leases.list()}
        await asyncio.sleep(4)  # longer than the lease: only renewals keep it
        renewed = await leases.list()
    assert all(lease.owner == "holder" for lease in renewed)
    assert all(lease.counter > counters[lease.shard_id] for lease in renewed)
