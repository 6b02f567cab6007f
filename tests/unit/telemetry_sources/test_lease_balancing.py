"""Which leases a worker takes: its fair share, free ones first, parents before children."""

from __future__ import annotations

from services.telemetry.adapters.leases import SHARD_END, Lease, available, leases_to_take

NOW = 1_000_000
LATER = NOW + 10_000
EARLIER = NOW - 1


def shard_ids(leases: list[Lease]) -> list[str]:
    return [lease.shard_id for lease in leases]


def test_a_lone_worker_takes_every_free_lease() -> None:
    leases = [Lease("s-0"), Lease("s-1"), Lease("s-2")]
    assert shard_ids(leases_to_take(leases, "a", held=(), now_ms=NOW)) == ["s-0", "s-1", "s-2"]


def test_a_worker_takes_only_its_share_when_others_are_alive() -> None:
    leases = [Lease("s-0", "b", 3, LATER), Lease("s-1"), Lease("s-2"), Lease("s-3")]
    assert shard_ids(leases_to_take(leases, "a", held=(), now_ms=NOW)) == ["s-1", "s-2"]


def test_expired_leases_of_a_dead_worker_are_free() -> None:
    leases = [Lease("s-0", "a", 5, LATER), Lease("s-1", "dead", 9, EARLIER)]
    assert shard_ids(leases_to_take(leases, "a", held={"s-0"}, now_ms=NOW)) == ["s-1"]


def test_leases_still_owned_under_our_own_worker_id_are_taken_back_at_once() -> None:
    leases = [Lease("s-0", "a", 5, LATER), Lease("s-1", "a", 5, LATER)]
    assert shard_ids(leases_to_take(leases, "a", held=(), now_ms=NOW)) == ["s-0", "s-1"]


def test_a_new_worker_takes_one_lease_from_a_worker_holding_more_than_its_share() -> None:
    leases = [Lease("s-0", "b", 1, LATER), Lease("s-1", "b", 1, LATER)]
    assert shard_ids(leases_to_take(leases, "a", held=(), now_ms=NOW)) == ["s-0"]


def test_balanced_workers_take_nothing_from_each_other() -> None:
    leases = [Lease("s-0", "a", 1, LATER), Lease("s-1", "b", 1, LATER), Lease("s-2", "b", 1, LATER)]
    assert leases_to_take(leases, "a", held={"s-0"}, now_ms=NOW) == []
    assert leases_to_take(leases, "b", held={"s-1", "s-2"}, now_ms=NOW) == []


def test_children_wait_until_their_parents_are_read_to_the_end() -> None:
    parent = Lease("s-0", "b", 1, LATER, checkpoint="17")
    children = [Lease("s-1", parents=("s-0",)), Lease("s-2", parents=("s-0",))]
    assert shard_ids(available([parent, *children])) == ["s-0"]
    assert leases_to_take([parent, *children], "a", held=(), now_ms=NOW) == []

    finished = Lease("s-0", None, 2, 0, checkpoint=SHARD_END)
    assert shard_ids(available([finished, *children])) == ["s-1", "s-2"]


def test_a_merged_child_waits_for_both_parents() -> None:
    leases = [
        Lease("s-0", checkpoint=SHARD_END),
        Lease("s-1", checkpoint="5"),
        Lease("s-2", parents=("s-0", "s-1")),
    ]
    assert shard_ids(available(leases)) == ["s-1"]


def test_a_parent_gone_from_the_stream_does_not_hold_its_children_back() -> None:
    assert shard_ids(available([Lease("s-5", parents=("s-1",))])) == ["s-5"]
