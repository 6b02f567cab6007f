"""One contract for every LeaseStore: the embedded SQLite table and DynamoDB (on the moto server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import aioboto3
import pytest

from services.kernel.ids import new_id
from services.telemetry.adapters.leases import SHARD_END, Lease, LeaseStore
from services.telemetry.adapters.leases_dynamodb import DynamoDbLeaseStore
from services.telemetry.adapters.leases_sqlite import SqliteLeaseStore
from tests.support.moto import REGION

StoreFactory = Callable[[str], AbstractAsyncContextManager[LeaseStore]]


@pytest.fixture(params=["sqlite", "dynamodb"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Opens stores on one lease table (one file, one DynamoDB table), each for the stream it is given."""
    if request.param == "sqlite":

        @asynccontextmanager
        async def sqlite(stream: str) -> AsyncIterator[LeaseStore]:
            store = SqliteLeaseStore(tmp_path / "leases.db", stream)
            yield store
            await store.close()

        yield sqlite
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    table = f"leases-{new_id('t')}"
    async with aioboto3.Session().client("dynamodb", endpoint_url=endpoint, region_name=REGION) as client:
        await DynamoDbLeaseStore(client, table, "any").ensure_table()

        @asynccontextmanager
        async def dynamodb(stream: str) -> AsyncIterator[LeaseStore]:
            yield DynamoDbLeaseStore(client, table, stream)

        yield dynamodb


@pytest.fixture
async def store(stores: StoreFactory) -> AsyncIterator[LeaseStore]:
    async with stores("telemetry") as opened:
        await opened.ensure([Lease("shard-0"), Lease("shard-1", parents=("shard-0",))])
        yield opened


async def lease(store: LeaseStore, shard_id: str) -> Lease:
    return next(lease for lease in await store.list() if lease.shard_id == shard_id)


async def test_new_leases_are_free_and_remember_their_parents(store: LeaseStore) -> None:
    assert sorted(await store.list(), key=lambda lease: lease.shard_id) == [
        Lease("shard-0"),
        Lease("shard-1", parents=("shard-0",)),
    ]


async def test_ensuring_again_leaves_existing_leases_as_they_are(store: LeaseStore) -> None:
    taken = await store.take(await lease(store, "shard-0"), "worker-a", 5_000)
    assert taken is not None
    await store.checkpoint("shard-0", "worker-a", "42")
    await store.ensure([Lease("shard-0"), Lease("shard-2")])

    assert await lease(store, "shard-0") == Lease("shard-0", "worker-a", 1, 5_000, "42")
    assert await lease(store, "shard-2") == Lease("shard-2")


async def test_taking_makes_us_the_owner_and_bumps_the_counter(store: LeaseStore) -> None:
    taken = await store.take(await lease(store, "shard-0"), "worker-a", 5_000)
    assert taken == Lease("shard-0", "worker-a", 1, 5_000)
    assert await lease(store, "shard-0") == taken


async def test_a_take_based_on_a_stale_read_fails(store: LeaseStore) -> None:
    seen = await lease(store, "shard-0")
    assert await store.take(seen, "worker-a", 5_000) is not None
    assert await store.take(seen, "worker-b", 6_000) is None
    assert (await lease(store, "shard-0")).owner == "worker-a"


async def test_of_two_workers_taking_the_same_lease_at_once_exactly_one_wins(store: LeaseStore) -> None:
    seen = await lease(store, "shard-0")
    results = await asyncio.gather(*(store.take(seen, f"worker-{n}", 5_000) for n in range(5)))
    winners = [result for result in results if result is not None]
    assert len(winners) == 1
    assert (await lease(store, "shard-0")).owner == winners[0].owner


async def test_the_owner_renews_and_anyone_else_is_refused(store: LeaseStore) -> None:
    await store.take(await lease(store, "shard-0"), "worker-a", 5_000)
    renewed = await store.renew("shard-0", "worker-a", 9_000)
    assert renewed == Lease("shard-0", "worker-a", 2, 9_000)
    assert await store.renew("shard-0", "worker-b", 20_000) is None
    assert await lease(store, "shard-0") == renewed


async def test_a_worker_whose_lease_was_taken_can_neither_renew_nor_checkpoint(store: LeaseStore) -> None:
    mine = await store.take(await lease(store, "shard-0"), "worker-a", 5_000)
    assert mine is not None
    assert await store.take(mine, "worker-b", 8_000) is not None  # worker-a stopped renewing: expired

    assert await store.renew("shard-0", "worker-a", 9_000) is None
    assert not await store.checkpoint("shard-0", "worker-a", "7")
    assert (await lease(store, "shard-0")).checkpoint is None


async def test_the_owner_checkpoints_progress_and_the_end_of_a_shard(store: LeaseStore) -> None:
    await store.take(await lease(store, "shard-0"), "worker-a", 5_000)
    assert await store.checkpoint("shard-0", "worker-a", "49590338271490256608559692538361571095921575989136588898")
    assert (await lease(store, "shard-0")).checkpoint == "49590338271490256608559692538361571095921575989136588898"
    assert await store.checkpoint("shard-0", "worker-a", SHARD_END)
    assert (await lease(store, "shard-0")).finished


async def test_releasing_frees_the_lease_for_the_next_taker(store: LeaseStore) -> None:
    await store.take(await lease(store, "shard-0"), "worker-a", 5_000)
    await store.release("shard-0", "worker-b")  # not the owner: no effect
    assert (await lease(store, "shard-0")).owner == "worker-a"

    await store.release("shard-0", "worker-a")
    released = await lease(store, "shard-0")
    assert (released.owner, released.expires_at_ms) == (None, 0)
    assert released.is_free(now_ms=1)
    assert await store.take(released, "worker-b", 5_000) is not None


async def test_streams_sharing_a_table_keep_their_leases_apart(stores: StoreFactory, store: LeaseStore) -> None:
    async with stores("other-stream") as other:
        await other.ensure([Lease("shard-0")])
        assert await other.take(await lease(other, "shard-0"), "worker-x", 5_000) is not None
        assert [lease.shard_id for lease in await other.list()] == ["shard-0"]
    assert (await lease(store, "shard-0")).owner is None
