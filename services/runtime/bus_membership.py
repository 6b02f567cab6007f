"""Who consumes which partition of a partitioned group: membership by heartbeats, assignment by hashing.

Pure (the clock is passed in), so bus_rabbitmq.py does the I/O and this module can be tested alone.

Every replica of a group announces itself on the bus every `heartbeat_seconds`; a member not heard from for
three heartbeats is gone, and one that says "leaving" is gone at once. Each member computes the same
assignment from the same set of members, so they agree without talking further (docs/bus.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

MISSED_HEARTBEATS = 3


class Status(StrEnum):
    ALIVE = "alive"
    # "I consume partitions that others may be ahead of me on": sent on joining, after a reconnection and
    # whenever a member gains partitions. Every other member then steps back on the partitions it does not
    # own, which puts the owner first in the queue's single-active-consumer line.
    CLAIM = "claim"
    LEAVING = "leaving"


@dataclass(frozen=True)
class Heartbeat:
    member: str
    status: Status

    def encode(self) -> bytes:
        return f"{self.status.value} {self.member}".encode()

    @classmethod
    def decode(cls, body: bytes) -> Heartbeat | None:
        """None for a body this version does not understand (a newer member may send more)."""
        status, _, member = body.decode(errors="replace").partition(" ")
        if not member or status not in Status.__members__.values():
            return None
        return cls(member, Status(status))


def weight(member: str, partition: int) -> int:
    """The member's stable preference for a partition (the same in every process, unlike hash())."""
    digest = hashlib.blake2b(f"{member}:{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assign(members: Iterable[str], partitions: int) -> dict[int, str]:
    """partition -> member, by rendezvous hashing with bounded loads.

    Plain rendezvous hashing (each partition to the member with the highest weight) moves few partitions
    on a change but spreads 16 partitions unevenly (two members split them 5/11 now and then). So the
    (member, partition) pairs are taken by decreasing weight and a member stops at ceil(partitions /
    members): every member gets a fair share, and a change still moves little (tests/unit/runtime).
    """
    ordered = sorted(set(members))
    if not ordered:
        return {}
    # Everyone may take `floor` partitions; the first `extra` members to want one more may take it.
    floor, extra = divmod(partitions, len(ordered))
    load = dict.fromkeys(ordered, 0)
    owners: dict[int, str] = {}
    pairs = sorted(((weight(m, p), m, p) for m in ordered for p in range(partitions)), reverse=True)
    for _, member, partition in pairs:
        if partition in owners:
            continue
        if load[member] == floor and extra > 0:
            extra -= 1
        elif load[member] >= floor:
            continue
        owners[partition] = member
        load[member] += 1
    return owners


def owned_by(member: str, members: Iterable[str], partitions: int) -> frozenset[int]:
    return frozenset(p for p, owner in assign(members, partitions).items() if owner == member)


@dataclass
class Membership:
    """The live members of one group as this member hears them (itself always included)."""

    me: str
    heartbeat_seconds: float
    _last_heard: dict[str, float] = field(default_factory=dict)

    @property
    def members(self) -> frozenset[str]:
        return frozenset(self._last_heard) | {self.me}

    @property
    def timeout(self) -> float:
        return MISSED_HEARTBEATS * self.heartbeat_seconds

    def heard(self, beat: Heartbeat, now: float) -> bool:
        """Record a heartbeat; True when the set of members changed."""
        if beat.member == self.me:
            return False
        known = beat.member in self._last_heard
        if beat.status is Status.LEAVING:
            self._last_heard.pop(beat.member, None)
            return known
        self._last_heard[beat.member] = now
        return not known

    def expire(self, now: float) -> bool:
        """Forget the members silent for longer than the timeout; True when any was forgotten."""
        silent = [m for m, at in self._last_heard.items() if now - at > self.timeout]
        for member in silent:
            del self._last_heard[member]
        return bool(silent)
