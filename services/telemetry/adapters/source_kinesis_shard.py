"""Reading one leased shard: GetRecords in a loop, batches to the pipeline, a checkpoint after each batch.

The shard consumer stops before its next batch (and never checkpoints again) once its lease is lost — a
renewal or a checkpoint found another owner — and pauses while a renewal is overdue, so two replicas never
work one shard at once as long as their clocks agree within the lease's safety margin.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.telemetry.adapters.leases import SHARD_END, Lease, LeaseStore
from services.telemetry.adapters.source_delivery import ingest_until_taken
from services.telemetry.domain.model import RawRecord, Source
from services.telemetry.ports import Ingest

if TYPE_CHECKING:
    from types_aiobotocore_kinesis.client import KinesisClient
    from types_aiobotocore_kinesis.type_defs import GetRecordsOutputTypeDef, RecordTypeDef

log = logging.getLogger("iotmon.telemetry.kinesis")

PAUSE_WHILE_UNUSABLE = 0.1
THROTTLED = ("ProvisionedThroughputExceededException", "LimitExceededException")


@dataclass
class HeldLease:
    """A lease this worker took, as the coordinator and the shard consumer both see it."""

    lease: Lease
    # Monotonic time until which the last renewal lets us work; others may take the lease a margin later.
    usable_until: float
    lost: bool = False

    def usable(self) -> bool:
        return not self.lost and time.monotonic() < self.usable_until

    async def wait_usable(self) -> bool:
        """True when work may go on; waits while a renewal is overdue; False once the lease is lost."""
        while not self.usable():
            if self.lost:
                return False
            await asyncio.sleep(PAUSE_WHILE_UNUSABLE)
        return True


@dataclass(frozen=True)
class ShardReading:
    worker_id: str
    batch_size: int
    linger_seconds: float
    poll_seconds: float
    records_per_call: int
    initial_position: str  # TRIM_HORIZON or LATEST, for a shard without checkpoint and without parents


class ShardConsumer:
    def __init__(
        self,
        kinesis: KinesisClient,
        stream: str,
        leases: LeaseStore,
        held: HeldLease,
        ingest: Ingest,
        reading: ShardReading,
        on_shard_end: Callable[[], None],
    ) -> None:
        self._kinesis, self._stream, self._leases = kinesis, stream, leases
        self._held, self._ingest, self._reading = held, ingest, reading
        self._on_shard_end = on_shard_end
        self._shard = held.lease.shard_id
        self._last_read: str | None = held.lease.checkpoint  # the sequence number an iterator resumes after

    async def run(self) -> None:
        try:
            await self._consume()
        except Exception:  # reading or checkpointing failed: let the lease go; it is taken again (by anyone)
            log.exception("shard consumer failed, releasing its lease", extra={"shard": self._shard})
            self._held.lost = True
            await self._release()

    async def _consume(self) -> None:
        iterator: str | None = await self._new_iterator()
        pending: list[RecordTypeDef] = []
        batch_started = 0.0
        while iterator is not None and await self._held.wait_usable():
            reply = await self._get_records(iterator)
            records, iterator = reply["Records"], reply.get("NextShardIterator")
            if records:
                batch_started = batch_started or time.monotonic()
                pending += records
                self._last_read = records[-1]["SequenceNumber"]
            while len(pending) >= self._reading.batch_size:
                if not await self._deliver(pending[: self._reading.batch_size]):
                    return
                del pending[: self._reading.batch_size]
                batch_started = time.monotonic() if pending else 0.0
            lingered = time.monotonic() - batch_started >= self._reading.linger_seconds
            if pending and (iterator is None or lingered):
                if not await self._deliver(pending):
                    return
                pending, batch_started = [], 0.0
            if not records or not reply.get("MillisBehindLatest"):
                await asyncio.sleep(self._pause(batch_started))
        if iterator is None and not self._held.lost:
            await self._finish()

    def _pause(self, batch_started: float) -> float:
        """Poll again after poll_seconds, or sooner when a waiting batch's linger time runs out first."""
        if not batch_started:
            return self._reading.poll_seconds
        linger_left = batch_started + self._reading.linger_seconds - time.monotonic()
        return max(0.0, min(self._reading.poll_seconds, linger_left))

    async def _deliver(self, records: list[RecordTypeDef]) -> bool:
        """Ingest, then checkpoint after the batch's last record; False when the lease was lost first."""
        received_at_ms = time.time_ns() // 1_000_000
        batch = [RawRecord(payload=r["Data"], source=Source.KINESIS, received_at_ms=received_at_ms) for r in records]
        while await self._held.wait_usable():
            if await ingest_until_taken(self._ingest, batch, log, still_ours=self._held.usable) is not None:
                return await self._checkpoint(records[-1]["SequenceNumber"])
        return False

    async def _checkpoint(self, sequence_number: str) -> bool:
        if self._held.lost:
            return False
        if await self._leases.checkpoint(self._shard, self._reading.worker_id, sequence_number):
            return True
        log.warning("lease taken by another worker, stopping the shard", extra={"shard": self._shard})
        self._held.lost = True
        return False

    async def _finish(self) -> None:
        """A closed shard read to its end: mark it so its children may start, and let the lease go."""
        if await self._checkpoint(SHARD_END):
            log.info("shard read to its end", extra={"shard": self._shard})
            await self._release()
            self._on_shard_end()

    async def _release(self) -> None:
        try:
            await self._leases.release(self._shard, self._reading.worker_id)
        except Exception:  # the lease then expires on its own
            log.warning("could not release the lease", exc_info=True, extra={"shard": self._shard})

    async def _new_iterator(self) -> str | None:
        """After the last record read (the checkpoint at first), else where a fresh shard starts."""
        kwargs: dict[str, Any] = {"StreamName": self._stream, "ShardId": self._shard}
        if self._last_read:
            kwargs |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": self._last_read}
        elif self._held.lease.parents:  # a child of a resharding: its records follow its parents', all of them
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs["ShardIteratorType"] = self._reading.initial_position
        reply = await self._kinesis.get_shard_iterator(**kwargs)
        return reply.get("ShardIterator")

    async def _get_records(self, iterator: str) -> GetRecordsOutputTypeDef:
        delay = self._reading.poll_seconds
        while True:
            try:
                return await self._kinesis.get_records(ShardIterator=iterator, Limit=self._reading.records_per_call)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code == "ExpiredIteratorException":  # idle for 5 minutes: resume after what we have read
                    iterator = await self._new_iterator() or iterator
                elif code in THROTTLED:  # five reads per second per shard, shared by every consumer
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                else:
                    raise
