"""Shard leases, as the Kinesis Client Library keeps them in its lease table.

One lease per shard of a stream: who owns it (a worker id), until when (an expiry the owner keeps pushing
forward), a counter bumped by every take and renewal, and the checkpoint — the sequence number up to which
the shard's records are stored, or SHARD_END once a closed shard has been read to its end.

Every change is a conditional write, which is what makes several replicas safe:
- take: only if the counter is still the one we read (nobody renewed or took it since);
- renew, checkpoint, release: only while we are still the owner — a replica whose lease was taken
  learns it from its next renewal or checkpoint and stops that shard before its next batch.

The lease table is the Kinesis source's own bookkeeping, not something the telemetry domain asks for, so its
port lives here beside the source rather than in services/telemetry/ports.py.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

SHARD_END = "SHARD_END"


@dataclass(frozen=True)
class Lease:
    shard_id: str
    owner: str | None = None
    counter: int = 0
    expires_at_ms: int = 0
    checkpoint: str | None = None  # a sequence number, SHARD_END, or None before the first batch
    parents: tuple[str, ...] = ()  # shards this one was split or merged from

    @property
    def finished(self) -> bool:
        return self.checkpoint == SHARD_END

    def is_free(self, now_ms: int) -> bool:
        """Nobody owns it, or its owner stopped renewing it."""
        return self.owner is None or self.expires_at_ms <= now_ms


class LeaseStore(Protocol):
    """The leases of one stream."""

    async def ensure(self, leases: Sequence[Lease]) -> None:
        """Create the leases that do not exist yet; existing ones are left as they are."""
        ...

    async def list(self) -> list[Lease]: ...

    async def take(self, lease: Lease, owner: str, expires_at_ms: int) -> Lease | None:
        """Become the owner if the lease's counter is still lease.counter; None when someone was faster."""
        ...

    async def renew(self, shard_id: str, owner: str, expires_at_ms: int) -> Lease | None:
        """Push the expiry forward while `owner` still owns it; None when the lease was taken."""
        ...

    async def checkpoint(self, shard_id: str, owner: str, sequence_number: str) -> bool:
        """Record progress while `owner` still owns the lease; False when it was taken."""
        ...

    async def release(self, shard_id: str, owner: str) -> None:
        """Give the lease up (graceful stop, finished shard) so another worker need not wait for its expiry."""
        ...

    async def close(self) -> None: ...


def available(leases: Sequence[Lease]) -> list[Lease]:
    """Leases that may be worked on: not finished, and every parent shard finished first (records of a key
    must be read in order across a resharding). A parent without a lease has left the stream's retention."""
    by_shard = {lease.shard_id: lease for lease in leases}
    return [
        lease
        for lease in leases
        if not lease.finished and all(by_shard[p].finished for p in lease.parents if p in by_shard)
    ]


def leases_to_take(leases: Sequence[Lease], me: str, held: Collection[str], now_ms: int) -> list[Lease]:
    """Which leases this worker should try to take now, to reach its fair share.

    The fair share is the available leases divided among the workers seen renewing one (and us). Free leases
    (unowned, expired, or ours from an earlier run under the same worker id) come first; when there are none,
    one lease is taken from the worker holding the most, if it holds more than its share — one per round, so
    that workers converge without taking leases back and forth.
    """
    live = available(leases)
    if not live:
        return []
    owners = Counter(lease.owner for lease in live if lease.owner and not lease.is_free(now_ms))
    workers = set(owners) | {me}
    share = math.ceil(len(live) / len(workers))
    wanted = share - len(held)
    if wanted <= 0:
        return []
    free = [lease for lease in live if lease.shard_id not in held and (lease.is_free(now_ms) or lease.owner == me)]
    if free:
        return sorted(free, key=lambda lease: lease.shard_id)[:wanted]
    busiest, count = max(
        ((owner, n) for owner, n in owners.items() if owner != me), key=lambda o: o[1], default=("", 0)
    )
    if count <= share:
        return []
    return [min((lease for lease in live if lease.owner == busiest), key=lambda lease: lease.shard_id)]
