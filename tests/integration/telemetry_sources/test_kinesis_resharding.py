"""A split shard: its records are all read, and checkpointed SHARD_END, before any of its children's."""

from __future__ import annotations

from pathlib import Path

from services.telemetry.adapters.leases import SHARD_END
from services.telemetry.adapters.leases_sqlite import SqliteLeaseStore
from tests.integration.telemetry_sources.fake_kinesis import FakeKinesis
from tests.integration.telemetry_sources.fakes import RecordingIngest
from tests.integration.telemetry_sources.kinesis_support import consuming, eventually


def payload(shard: str, n: int) -> bytes:
    return f'{{"shard": "{shard}", "n": {n}}}'.encode()


async def test_a_parent_shard_is_read_to_its_end_before_its_children(tmp_path: Path) -> None:
    kinesis = FakeKinesis()
    kinesis.add_shard("shard-0")
    for n in range(60):
        kinesis.put("shard-0", payload("shard-0", n))
    kinesis.split("shard-0", ("shard-1", "shard-2"))
    for child in ("shard-1", "shard-2"):
        for n in range(40):
            kinesis.put(child, payload(child, n))
    leases = SqliteLeaseStore(tmp_path / "leases.db", "stream")
    ingest = RecordingIngest()

    async with consuming(kinesis, leases, "stream", ingest, "worker", records_per_call=10):  # type: ignore[arg-type]
        await eventually(lambda: len(ingest.distinct_taken()) == 140)
        await eventually(lambda: kinesis.reads.count("shard-1") > 1 and kinesis.reads.count("shard-2") > 1)

    offered = ingest.payloads(ingest.offered)
    last_parent = max(i for i, p in enumerate(offered) if b"shard-0" in p)
    first_child = min(i for i, p in enumerate(offered) if b"shard-0" not in p)
    assert last_parent < first_child
    assert [p for p in offered if b"shard-0" in p] == [payload("shard-0", n) for n in range(60)]  # in order
    last_parent_read = max(i for i, shard in enumerate(kinesis.reads) if shard == "shard-0")
    assert kinesis.reads.index("shard-1") > last_parent_read
    assert kinesis.reads.index("shard-2") > last_parent_read
    checkpoints = {lease.shard_id: lease.checkpoint for lease in await leases.list()}
    assert checkpoints["shard-0"] == SHARD_END
    assert checkpoints["shard-1"] == kinesis.shards["shard-1"].records[-1][0]
    await leases.close()


async def test_children_appearing_while_the_parent_is_consumed_are_picked_up_when_it_ends(tmp_path: Path) -> None:
    kinesis = FakeKinesis()
    kinesis.add_shard("shard-0")
    leases = SqliteLeaseStore(tmp_path / "leases.db", "stream")
    ingest = RecordingIngest()

    async with consuming(kinesis, leases, "stream", ingest, "worker", shard_sync_seconds=3600):  # type: ignore[arg-type]
        for n in range(30):
            kinesis.put("shard-0", payload("shard-0", n))
        await eventually(lambda: len(ingest.distinct_taken()) == 30)
        kinesis.split("shard-0", ("shard-1", "shard-2"))  # the end of shard-0 triggers listing the shards again
        for n in range(10):
            kinesis.put("shard-2", payload("shard-2", n))
        await eventually(lambda: len(ingest.distinct_taken()) == 40, within=5)

    assert ingest.payloads()[-10:] == [payload("shard-2", n) for n in range(10)]
    await leases.close()
