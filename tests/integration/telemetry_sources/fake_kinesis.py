"""An in-memory Kinesis stream that reshards the way AWS does, for the resharding test.

moto's SplitShard keeps routing new records to the closed parent and never ends a shard iterator, so the
one behaviour a resharding test needs — a closed parent read to its end (NextShardIterator absent), then
children holding the newer records — has to come from this small stand-in. Only the three calls the
consumer makes exist; their shapes follow the Kinesis API.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeShard:
    shard_id: str
    parents: tuple[str, ...] = ()
    records: list[tuple[str, bytes]] = field(default_factory=list)
    closed: bool = False


class FakeKinesis:
    def __init__(self) -> None:
        self.shards: dict[str, FakeShard] = {}
        self._sequence = itertools.count(49_000_000_000_000_000_000)
        self.reads: list[str] = []  # shard of every GetRecords call, in order

    def add_shard(self, shard_id: str, parents: tuple[str, ...] = ()) -> None:
        self.shards[shard_id] = FakeShard(shard_id, parents)

    def put(self, shard_id: str, data: bytes) -> None:
        shard = self.shards[shard_id]
        assert not shard.closed, "a closed shard takes no records"
        shard.records.append((str(next(self._sequence)), data))

    def split(self, parent: str, children: tuple[str, str]) -> None:
        self.shards[parent].closed = True
        for child in children:
            self.add_shard(child, (parent,))

    async def list_shards(self, **_: Any) -> dict[str, Any]:
        shards = []
        for shard in self.shards.values():
            entry: dict[str, Any] = {"ShardId": shard.shard_id}
            if shard.parents:
                entry["ParentShardId"] = shard.parents[0]
            if len(shard.parents) > 1:
                entry["AdjacentParentShardId"] = shard.parents[1]
            shards.append(entry)
        return {"Shards": shards}

    async def get_shard_iterator(
        self, *, ShardId: str, ShardIteratorType: str, StartingSequenceNumber: str | None = None, **_: Any
    ) -> dict[str, Any]:
        records = self.shards[ShardId].records
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            assert StartingSequenceNumber is not None
            position = sum(1 for sequence, _ in records if int(sequence) <= int(StartingSequenceNumber))
        elif ShardIteratorType == "LATEST":
            position = len(records)
        else:
            position = 0
        return {"ShardIterator": f"{ShardId}|{position}"}

    async def get_records(self, *, ShardIterator: str, Limit: int = 10_000) -> dict[str, Any]:
        await asyncio.sleep(0.001)  # a network call: other shards' consumers run meanwhile
        shard_id, position_text = ShardIterator.split("|")
        self.reads.append(shard_id)
        shard, position = self.shards[shard_id], int(position_text)
        chunk = shard.records[position : position + Limit]
        after = position + len(chunk)
        ended = shard.closed and after == len(shard.records)
        return {
            "Records": [{"SequenceNumber": sequence, "Data": data, "PartitionKey": "k"} for sequence, data in chunk],
            "NextShardIterator": None if ended else f"{shard_id}|{after}",
            "MillisBehindLatest": 0 if after == len(shard.records) else 1000,
        }
