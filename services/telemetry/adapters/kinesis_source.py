"""The production path (spec §4.1): IoT Core rule → Kinesis stream → this consumer, one per replica.

Like the Kinesis Client Library: a lease per shard in a lease table (DynamoDB, or SQLite on one host);
every replica renews the leases it holds, takes free or expired ones up to its fair share (and one from a
replica holding more than its share), and runs one ShardConsumer per lease. Shards are listed again
periodically and when a shard ends, so the children of a resharding get leases; a child waits until its
parents are read to their end. Records are checkpointed per shard only after the pipeline took their batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from services.telemetry.adapters.leases import Lease, LeaseStore, leases_to_take
from services.telemetry.adapters.source_kinesis_shard import HeldLease, ShardConsumer, ShardReading
from services.telemetry.ports import Ingest

if TYPE_CHECKING:
    from types_aiobotocore_kinesis.client import KinesisClient
    from types_aiobotocore_kinesis.type_defs import ShardTypeDef

log = logging.getLogger("iotmon.telemetry.kinesis")

# A lease stops being usable this fraction of its duration before others may take it (clock skew, latency).
SAFETY_FRACTION = 0.2


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class KinesisOptions:
    stream: str
    worker_id: str = field(default_factory=default_worker_id)
    # Where a shard without checkpoint starts; children of a resharding always start at TRIM_HORIZON.
    initial_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON"
    batch_size: int = 100
    linger_seconds: float = 5.0
    poll_seconds: float = 1.0  # pause after a read that found nothing new (5 reads/s/shard is the AWS limit)
    records_per_call: int = 10_000
    lease_seconds: float = 10.0  # how long a dead replica's shards wait before another takes them
    shard_sync_seconds: float = 60.0
    # A graceful stop hands the leases over at once; False leaves them to expire, as a crash would.
    release_on_stop: bool = True
    # Used only when the source opens its own clients (no kinesis/leases passed in).
    lease_store: Literal["dynamodb", "sqlite"] = "dynamodb"
    lease_table: str = "iotmon-telemetry-leases"
    lease_sqlite_path: Path | None = None
    endpoint_url: str | None = None  # None: botocore's own resolution (AWS_ENDPOINT_URL, region endpoint)
    region: str | None = None

    def reading(self) -> ShardReading:
        return ShardReading(
            worker_id=self.worker_id,
            batch_size=self.batch_size,
            linger_seconds=self.linger_seconds,
            poll_seconds=self.poll_seconds,
            records_per_call=self.records_per_call,
            initial_position=self.initial_position,
        )


class KinesisSource:
    def __init__(
        self, options: KinesisOptions, *, kinesis: KinesisClient | None = None, leases: LeaseStore | None = None
    ) -> None:
        self.options = options
        self._kinesis = kinesis
        self._leases = leases
        self._consumers: dict[str, tuple[HeldLease, asyncio.Task[None]]] = {}
        self._wakeup = asyncio.Event()
        self._shards_changed = True

    @property
    def held_shards(self) -> set[str]:
        """Shards this worker is consuming now (tests, status)."""
        return {shard for shard, (held, _) in self._consumers.items() if not held.lost}

    async def run(self, ingest: Ingest) -> None:
        async with AsyncExitStack() as resources:
            kinesis, leases = await self._open(resources)
            log.info("consuming", extra={"stream": self.options.stream, "workerId": self.options.worker_id})
            try:
                next_sync = 0.0
                while True:
                    started = time.monotonic()
                    if started >= next_sync:
                        self._shards_changed, next_sync = True, started + self.options.shard_sync_seconds
                    await self._round(kinesis, leases, ingest)
                    # Rounds start every lease_seconds / 3 however long one took: renewals stay on time.
                    await self._sleep(max(0.0, started + self.options.lease_seconds / 3 - time.monotonic()))
            finally:
                await self._stop(leases)

    async def _round(self, kinesis: KinesisClient, leases: LeaseStore, ingest: Ingest) -> None:
        """Renew, notice new shards, take what is ours to take. A failing round is retried next time."""
        try:
            await self._renew(leases)
            if self._shards_changed:
                created = await self._create_missing_leases(kinesis, leases)
                self._shards_changed = False
                if created:
                    return  # take nothing in a round that created leases: let every replica see them first
            await self._acquire(kinesis, leases, ingest)
        except Exception:
            log.exception("lease round failed", extra={"stream": self.options.stream})

    async def _renew(self, leases: LeaseStore) -> None:
        for shard, (_, task) in list(self._consumers.items()):
            if task.done():
                del self._consumers[shard]
        started = time.monotonic()
        held_leases = [held for held, _ in self._consumers.values() if not held.lost]
        results = await asyncio.gather(
            *(leases.renew(held.lease.shard_id, self.options.worker_id, self._expiry_ms()) for held in held_leases),
            return_exceptions=True,
        )
        for held, result in zip(held_leases, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("lease renewal failed", extra={"shard": held.lease.shard_id, "error": repr(result)})
            elif result is None or result.owner != self.options.worker_id:
                # The owner in the returned item is checked too: a store whose conditional writes can
                # interleave (moto's threaded server does) may apply a renewal right after another's take.
                log.warning("lease taken by another worker", extra={"shard": held.lease.shard_id})
                held.lost = True
            else:
                held.lease, held.usable_until = result, self._usable_until(started)

    async def _acquire(self, kinesis: KinesisClient, leases: LeaseStore, ingest: Ingest) -> None:
        now_ms = time.time_ns() // 1_000_000
        for lease in leases_to_take(await leases.list(), self.options.worker_id, set(self._consumers), now_ms):
            started = time.monotonic()
            taken = await leases.take(lease, self.options.worker_id, self._expiry_ms())
            if taken is None or taken.owner != self.options.worker_id:
                continue  # another worker was faster
            log.info("lease taken", extra={"shard": taken.shard_id, "previousOwner": lease.owner})
            held = HeldLease(taken, self._usable_until(started))
            consumer = ShardConsumer(
                kinesis, self.options.stream, leases, held, ingest, self.options.reading(), self._shard_ended
            )
            self._consumers[taken.shard_id] = (held, asyncio.create_task(consumer.run()))

    async def _create_missing_leases(self, kinesis: KinesisClient, leases: LeaseStore) -> int:
        """Leases for shards that have none yet; how many were missing."""
        known = {lease.shard_id for lease in await leases.list()}
        missing = [lease for lease in await self._list_shards(kinesis) if lease.shard_id not in known]
        if missing:
            await leases.ensure(missing)
        return len(missing)

    async def _list_shards(self, kinesis: KinesisClient) -> list[Lease]:
        reply = await kinesis.list_shards(StreamName=self.options.stream)
        shards: list[ShardTypeDef] = list(reply["Shards"])
        while token := reply.get("NextToken"):
            reply = await kinesis.list_shards(NextToken=token)
            shards += reply["Shards"]
        return [_lease_of(shard) for shard in shards]

    def _shard_ended(self) -> None:
        self._shards_changed = True
        self._wakeup.set()

    async def _sleep(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._wakeup.wait()
        except TimeoutError:
            pass
        self._wakeup.clear()

    async def _stop(self, leases: LeaseStore) -> None:
        """Abandon the batches in flight (unacknowledged: they are read again) and hand the leases over."""
        tasks = [task for _, task in self._consumers.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.options.release_on_stop:
            for shard, (held, _) in self._consumers.items():
                if not held.lost:
                    try:
                        await leases.release(shard, self.options.worker_id)
                    except Exception:
                        log.warning("could not release the lease", exc_info=True, extra={"shard": shard})
        self._consumers.clear()

    def _expiry_ms(self) -> int:
        return time.time_ns() // 1_000_000 + int(self.options.lease_seconds * 1000)

    def _usable_until(self, renewal_started: float) -> float:
        return renewal_started + self.options.lease_seconds * (1 - SAFETY_FRACTION)

    async def _open(self, resources: AsyncExitStack) -> tuple[KinesisClient, LeaseStore]:
        """The clients passed in, else our own for the duration of run()."""
        kinesis, leases = self._kinesis, self._leases
        if kinesis is not None and leases is not None:
            return kinesis, leases
        import aioboto3  # AWS libraries are an optional extra (iotmon[aws])

        session = aioboto3.Session()
        endpoint, region = self.options.endpoint_url, self.options.region
        if kinesis is None:
            kinesis = await resources.enter_async_context(
                session.client("kinesis", endpoint_url=endpoint, region_name=region)
            )
        if leases is None and self.options.lease_store == "sqlite":
            from services.telemetry.adapters.leases_sqlite import SqliteLeaseStore

            sqlite = SqliteLeaseStore(self.options.lease_sqlite_path or Path("kinesis-leases.db"), self.options.stream)
            resources.push_async_callback(sqlite.close)
            leases = sqlite
        elif leases is None:
            from services.telemetry.adapters.leases_dynamodb import DynamoDbLeaseStore

            dynamodb = await resources.enter_async_context(
                session.client("dynamodb", endpoint_url=endpoint, region_name=region)
            )
            table = DynamoDbLeaseStore(dynamodb, self.options.lease_table, self.options.stream)
            await table.ensure_table()
            leases = table
        return kinesis, leases


def _lease_of(shard: ShardTypeDef) -> Lease:
    parents = (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
    return Lease(shard["ShardId"], parents=tuple(parent for parent in parents if parent))
