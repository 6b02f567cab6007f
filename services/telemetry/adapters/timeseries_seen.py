"""Which datapoints of a batch may be stored already: only those are looked up in the tables before the INSERT.

A lookup is a SEMI JOIN whose cost grows with the rows of the time span it must search, so the embedded store
avoids it for what is certainly new, using two facts kept in memory by the one writer of the file:
- a device's high-water mark, its newest stored time: anything newer is new;
- the (device, time) pairs of the readings in ts_recent, which holds every datapoint at or after `floor` (the
  newest time compaction has moved out): a pair at or after `floor` that is not in the set is new. The set
  may hold pairs already moved out (it is only rebuilt after compaction) — that costs a lookup, never a miss.
A pair is one int, device_key << 42 | time: times from 1970 to 2109, up to 2^21 devices; others are looked up.

The pairs are the keys of a dict (values None), not a set: a dict holding only ints is untracked by the
garbage collector, while a set is always traversed — with a million pairs each full collection walked them all
(≈ 65 ms, about a fifth of the ingest path's CPU under load).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

TIME_BITS = 42
_NEVER = np.iinfo(np.int64).min


class SeenFilter:
    def __init__(self) -> None:
        self.high_water = np.full(1024, _NEVER, dtype=np.int64)
        self.recent: dict[int, None] = {}  # a set in effect; see the module docstring
        self.floor = _NEVER

    def reset(self, newest: Iterable[tuple[int, int]], recent_pairs: Iterable[tuple[int, int]], floor: int) -> None:
        """Start from the tables: each device's newest time, the pairs in ts_recent and the compaction floor."""
        for device, ts in newest:
            self._grow(device)
            self.high_water[device] = max(self.high_water[device], ts)
        self.recent = dict.fromkeys((device << TIME_BITS) | ts for device, ts in recent_pairs if _packable(device, ts))
        self.floor = floor

    def maybe_stored(self, device: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """A mask of the datapoints that must be looked up."""
        self._grow(int(device.max()))
        maybe: np.ndarray = ts <= self.high_water[device]
        rows = np.flatnonzero(maybe)
        if len(rows):
            d, t = device[rows].astype(np.int64), ts[rows]
            packable = (t >= 0) & (t < 1 << TIME_BITS) & (d < 1 << (63 - TIME_BITS))
            recent = self.recent
            known = np.fromiter((p in recent for p in ((d << TIME_BITS) | t).tolist()), np.bool_, len(rows))
            maybe[rows] = known | (t < self.floor) | ~packable
        return maybe

    def stored(self, device: np.ndarray, ts: np.ndarray) -> None:
        """Take note of datapoints just stored in ts_recent."""
        if not len(ts):
            return
        # A reading's datapoints are adjacent and share (device, time): one pair per reading, not per metric.
        first = np.ones(len(ts), dtype=np.bool_)
        first[1:] = (device[1:] != device[:-1]) | (ts[1:] != ts[:-1])
        d, t = device[first].astype(np.int64), ts[first]
        np.maximum.at(self.high_water, d, t)
        packable = (t >= 0) & (t < 1 << TIME_BITS) & (d < 1 << (63 - TIME_BITS))
        self.recent.update(dict.fromkeys(((d[packable] << TIME_BITS) | t[packable]).tolist()))

    def _grow(self, largest_device: int) -> None:
        if largest_device >= len(self.high_water):
            grown = np.full(largest_device * 2, _NEVER, dtype=np.int64)
            grown[: len(self.high_water)] = self.high_water
            self.high_water = grown


def _packable(device: int, ts: int) -> bool:
    return 0 <= ts < 1 << TIME_BITS and device < 1 << (63 - TIME_BITS)
