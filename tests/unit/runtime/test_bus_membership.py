"""Partition assignment and membership of partitioned groups (services/runtime/bus_membership.py)."""

from __future__ import annotations

import random
import uuid

import pytest

from services.runtime.bus_membership import Heartbeat, Membership, Status, assign, owned_by

PARTITIONS = 16
TRIALS = 200


def member_ids(rng: random.Random, count: int) -> list[str]:
    return [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(count)]


def moved(before: dict[int, str], after: dict[int, str]) -> int:
    return sum(before[p] != after[p] for p in range(PARTITIONS))


def test_every_process_computes_the_same_assignment_whatever_the_order() -> None:
    members = member_ids(random.Random(1), 3)
    first = assign(members, PARTITIONS)
    assert assign(list(reversed(members)), PARTITIONS) == first
    assert sorted(first) == list(range(PARTITIONS))
    assert set(first.values()) == set(members)


def test_a_member_alone_owns_every_partition() -> None:
    assert owned_by("solo", ["solo"], PARTITIONS) == frozenset(range(PARTITIONS))
    assert assign([], PARTITIONS) == {}


@pytest.mark.parametrize("count", [2, 3, 4, 5])
def test_each_member_gets_a_fair_share_whatever_its_id(count: int) -> None:
    rng = random.Random(count)
    for _ in range(TRIALS):
        members = member_ids(rng, count)
        owners = list(assign(members, PARTITIONS).values())
        loads = [owners.count(m) for m in members]
        assert max(loads) - min(loads) <= 1, loads  # floor or ceil of 16 / count: 8/8, 5/5/6, 4 each, 3/3/3/3/4


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_a_joining_member_moves_little_and_mostly_to_itself(count: int) -> None:
    rng = random.Random(100 + count)
    ideal = PARTITIONS / (count + 1)  # what the newcomer must take
    total = 0
    for _ in range(TRIALS):
        members = member_ids(rng, count)
        [newcomer] = member_ids(rng, 1)
        before, after = assign(members, PARTITIONS), assign([*members, newcomer], PARTITIONS)
        total += moved(before, after)
        assert moved(before, after) <= PARTITIONS // 2  # the worst case; the average is near the ideal
        assert sum(owner == newcomer for owner in after.values()) >= PARTITIONS // (count + 1)
    assert total / TRIALS <= ideal + 1.5  # near the minimum; a plain reshuffle would move about 3/4 of all


@pytest.mark.parametrize("count", [2, 3, 4, 5])
def test_a_leaving_member_moves_little_beyond_its_own(count: int) -> None:
    rng = random.Random(200 + count)
    ideal = PARTITIONS / count
    total = 0
    for _ in range(TRIALS):
        members = member_ids(rng, count)
        before, after = assign(members, PARTITIONS), assign(members[1:], PARTITIONS)
        total += moved(before, after)
        assert moved(before, after) <= PARTITIONS // 2  # the worst case; the average is near the ideal
    assert total / TRIALS <= ideal + 1.5


def test_heartbeats_round_trip_and_unknown_ones_are_ignored() -> None:
    beat = Heartbeat("abc123", Status.CLAIM)
    assert Heartbeat.decode(beat.encode()) == beat
    assert Heartbeat.decode(b"dancing abc123") is None
    assert Heartbeat.decode(b"alive") is None


def test_membership_adds_the_heard_forgets_the_silent_and_the_leaving() -> None:
    view = Membership("me", heartbeat_seconds=2.0)
    assert view.members == {"me"}
    assert view.heard(Heartbeat("a", Status.ALIVE), now=0.0) is True
    assert view.heard(Heartbeat("a", Status.ALIVE), now=1.0) is False  # known already
    assert view.heard(Heartbeat("b", Status.CLAIM), now=1.0) is True
    assert view.heard(Heartbeat("me", Status.ALIVE), now=1.0) is False  # its own heartbeat
    assert view.members == {"me", "a", "b"}

    assert view.expire(now=6.5) is False  # 5.5 s since a and b were heard: under 3 heartbeats of 2 s
    assert view.expire(now=7.5) is True
    assert view.members == {"me"}

    view.heard(Heartbeat("c", Status.ALIVE), now=10.0)
    assert view.expire(now=15.9) is False
    assert view.heard(Heartbeat("c", Status.LEAVING), now=16.0) is True
    assert view.members == {"me"}
    assert view.heard(Heartbeat("c", Status.LEAVING), now=16.0) is False
