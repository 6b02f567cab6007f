"""A 2-shard stream on the moto server, a real producer (put_records), and consumers run as tasks."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.kernel.ids import new_id
from services.telemetry.adapters.kinesis_source import KinesisOptions, KinesisSource
from services.telemetry.adapters.leases import Lease, LeaseStore
from tests.integration.telemetry_sources.fakes import RecordingIngest

# Short enough for tests (a dead consumer's shards are taken after ~3 s), long enough that a renewal round
# slowed down by a busy machine and moto does not let a lease lapse under a live consumer.
FAST = {"lease_seconds": 3.0, "linger_seconds": 0.2, "poll_seconds": 0.05, "batch_size": 25}


@dataclass
class Produced:
    """What the producer put, by shard: payloads in order and the last sequence number."""

    payloads: dict[str, list[bytes]] = field(default_factory=dict)
    last_sequence: dict[str, str] = field(default_factory=dict)

    def all(self) -> set[bytes]:
        return {payload for payloads in self.payloads.values() for payload in payloads}

    def of(self, shard: str) -> set[bytes]:
        return set(self.payloads.get(shard, []))


async def create_stream(kinesis: Any, shards: int = 2) -> str:
    stream = f"telemetry-{new_id('t')}"
    await kinesis.create_stream(StreamName=stream, ShardCount=shards)
    await kinesis.get_waiter("stream_exists").wait(StreamName=stream)
    return stream


async def produce(kinesis: Any, stream: str, count: int, *, start: int = 0, devices: int = 20) -> Produced:
    """§4.1 records put in chunks of 100, partition key = device id (as an IoT Core rule would)."""
    produced = Produced()
    for offset in range(start, start + count, 100):
        entries = []
        for n in range(offset, min(offset + 100, start + count)):
            device = f"dev-{n % devices}"
            data = orjson.dumps({"deviceId": device, "timestamp": 1_700_000_000_000 + n, "data": {"co2": 400 + n}})
            entries.append({"Data": data, "PartitionKey": device})
        reply = await kinesis.put_records(StreamName=stream, Records=entries)
        assert reply["FailedRecordCount"] == 0
        for entry, result in zip(entries, reply["Records"], strict=True):
            produced.payloads.setdefault(result["ShardId"], []).append(entry["Data"])
            produced.last_sequence[result["ShardId"]] = result["SequenceNumber"]
    return produced


def merged(*many: Produced) -> Produced:
    total = Produced()
    for produced in many:
        for shard, payloads in produced.payloads.items():
            total.payloads.setdefault(shard, []).extend(payloads)
        total.last_sequence |= produced.last_sequence
    return total


@contextlib.asynccontextmanager
async def consuming(
    kinesis: Any, leases: LeaseStore, stream: str, ingest: RecordingIngest, worker: str, **options: Any
) -> AsyncIterator[KinesisSource]:
    source = KinesisSource(
        KinesisOptions(stream=stream, worker_id=worker, **(FAST | options)), kinesis=kinesis, leases=leases
    )
    task = asyncio.create_task(source.run(ingest))
    try:
        yield source
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(condition: Callable[[], bool], *, within: float = 20) -> None:
    """Poll a condition on state other tasks change (held shards, ingested records)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {within} s")
        await asyncio.sleep(0.05)


async def checkpoints_reach(leases: LeaseStore, last_sequence: dict[str, str], *, within: float = 20) -> None:
    """Wait until every shard's checkpoint is at the producer's last sequence number."""
    async with asyncio.timeout(within):
        while True:
            checkpoints = {lease.shard_id: lease.checkpoint for lease in await leases.list()}
            if all(checkpoints.get(shard) == sequence for shard, sequence in last_sequence.items()):
                return
            await asyncio.sleep(0.05)


def owners(leases: Iterable[Lease]) -> dict[str, str | None]:
    return {lease.shard_id: lease.owner for lease in leases}
