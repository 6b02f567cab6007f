"""TtlCache on a fake clock: what is asked again, for how long answers and absences are kept, and its bound."""

from __future__ import annotations

from collections.abc import Mapping

from services.runtime.ttl_cache import TtlCache
from tests.support.clocks import ManualClock


class Source:
    """What the other service knows; records every batch it is asked for."""

    def __init__(self, known: Mapping[str, int]):
        self.known = dict(known)
        self.asked: list[list[str]] = []

    async def fetch(self, keys: list[str]) -> dict[str, int]:
        self.asked.append(list(keys))
        return {key: self.known[key] for key in keys if key in self.known}


def a_cache(clock: ManualClock, max_entries: int = 100) -> TtlCache[str, int]:
    return TtlCache(positive_ttl=30, negative_ttl=5, max_entries=max_entries, clock=clock)


async def test_only_the_keys_not_cached_are_fetched_in_one_call() -> None:
    clock, source = ManualClock(), Source({"a": 1, "b": 2, "c": 3})
    cache = a_cache(clock)
    assert await cache.get_many(["a", "b"], source.fetch) == {"a": 1, "b": 2}
    assert await cache.get_many(["a", "b", "c"], source.fetch) == {"a": 1, "b": 2, "c": 3}
    assert source.asked == [["a", "b"], ["c"]]


async def test_an_unknown_key_is_remembered_as_absent_for_the_negative_ttl_only() -> None:
    clock, source = ManualClock(), Source({"a": 1})
    cache = a_cache(clock)
    assert await cache.get_many(["a", "ghost"], source.fetch) == {"a": 1}
    clock.now += 4.9
    assert await cache.get_many(["a", "ghost"], source.fetch) == {"a": 1}
    assert source.asked == [["a", "ghost"]]
    source.known["ghost"] = 7  # registered meanwhile
    clock.now += 0.1
    assert await cache.get_many(["a", "ghost"], source.fetch) == {"a": 1, "ghost": 7}
    assert source.asked[-1] == ["ghost"]


async def test_a_found_value_expires_after_the_positive_ttl_counted_from_the_fetch() -> None:
    clock, source = ManualClock(), Source({"a": 1})
    cache = a_cache(clock)
    await cache.get_many(["a"], source.fetch)
    source.known["a"] = 2
    clock.now += 29.9
    assert await cache.get_many(["a"], source.fetch) == {"a": 1}
    clock.now += 0.1
    assert await cache.get_many(["a"], source.fetch) == {"a": 2}
    assert len(source.asked) == 2


async def test_invalidate_makes_the_next_lookup_ask_again() -> None:
    clock, source = ManualClock(), Source({"a": 1})
    cache = a_cache(clock)
    await cache.get_many(["a"], source.fetch)
    source.known["a"] = 5
    cache.invalidate("a")
    cache.invalidate("never-cached")
    assert await cache.get_many(["a"], source.fetch) == {"a": 5}
    assert len(source.asked) == 2


async def test_passing_max_entries_starts_over_with_the_new_answers() -> None:
    clock, source = ManualClock(), Source({f"k{n}": n for n in range(10)})
    cache = a_cache(clock, max_entries=4)
    await cache.get_many(["k0", "k1", "k2"], source.fetch)
    assert len(cache) == 3
    await cache.get_many(["k3", "k4"], source.fetch)  # 3 + 2 > 4: the old entries go
    assert len(cache) == 2
    assert await cache.get_many(["k0", "k3"], source.fetch) == {"k0": 0, "k3": 3}
    assert source.asked[-1] == ["k0"]


def test_get_and_put_keep_one_value_for_the_positive_ttl() -> None:
    clock = ManualClock()
    cache = a_cache(clock)
    assert cache.get("a") is None
    cache.put("a", 0)  # a falsy value is still a value
    assert cache.get("a") == 0
    clock.now += 29.9
    assert cache.get("a") == 0
    clock.now += 0.1
    assert cache.get("a") is None


def test_put_of_none_remembers_an_absence_that_get_reports_as_none() -> None:
    clock = ManualClock()
    cache = a_cache(clock)
    cache.put("a", 1)
    cache.put("a", None)
    assert cache.get("a") is None
    assert len(cache) == 1
