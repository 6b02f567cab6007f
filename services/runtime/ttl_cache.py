"""Answers from another service, remembered for a while: the in-process cache every gRPC client adapter uses.

A found value is kept `positive_ttl` seconds; a key the other service did not know is remembered as absent
for `negative_ttl` seconds (short, so a device registered a moment later is soon seen, yet a flood of unknown
ids does not turn into one call each). The cache is bounded: when storing would pass `max_entries` it starts
over, rare (a flood of distinct keys) and cheaper than keeping an LRU order on every lookup. `invalidate`
drops one key at once (an event said it changed).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(
        self,
        *,
        positive_ttl: float,
        negative_ttl: float = 0.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._positive_ttl = positive_ttl
        self._negative_ttl = negative_ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[V | None, float]] = {}  # key → (value, or None when absent; expiry)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The fresh value of `key`; None when it is not cached, expired or remembered as absent."""
        entry = self._entries.get(key)
        return entry[0] if entry is not None and entry[1] > self._clock() else None

    def put(self, key: K, value: V | None) -> None:
        """Remember `value` for `key` (None: `key` is absent) from now on."""
        self._store((key,), {} if value is None else {key: value}, self._clock())

    def invalidate(self, key: K) -> None:
        self._entries.pop(key, None)

    async def get_many(self, keys: Iterable[K], fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]]) -> dict[K, V]:
        """The values of `keys` that exist: fresh ones from the cache, the others from one `fetch` call.

        `fetch(missing)` returns the values it found; the keys it left out are remembered as absent. Expiry
        counts from before the fetch, so an answer is never kept longer than its TTL after it was asked for.
        """
        now = self._clock()
        found: dict[K, V] = {}
        missing: list[K] = []
        entries = self._entries
        for key in keys:
            entry = entries.get(key)
            if entry is None or entry[1] <= now:
                missing.append(key)
            elif entry[0] is not None:
                found[key] = entry[0]
        if missing:
            fetched = await fetch(missing)
            self._store(missing, fetched, now)
            found.update(fetched)
        return found

    def _store(self, asked: Sequence[K], fetched: Mapping[K, V], now: float) -> None:
        if len(self._entries) + len(asked) > self._max_entries:
            self._entries.clear()
        positive, negative = now + self._positive_ttl, now + self._negative_ttl
        for key in asked:
            value = fetched.get(key)
            self._entries[key] = (value, positive if value is not None else negative)
