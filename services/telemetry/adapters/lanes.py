"""Group commit for events: at most one send in flight per lane, and what arrives meanwhile goes out together.

A batch of readings becomes one ReadingsStored event per (organization, partition). On RabbitMQ each event
costs the broker a publish, a confirm and a quorum-queue write per receiving queue, whatever its size: with
16 partitions, 8 concurrent 500-reading batches from 1,000 devices were 128 small events, and the broker's
per-message work capped ingest at about a third of what one event per batch allowed (bench/ingest_batch.py
against the deployed layout: 17,500 vs 53,500 readings/s).

So each lane sends one event at a time. The first items to find a lane idle go out at once (no added latency
when quiet); items arriving while a send is in flight wait and leave together in the next one, so under load
events grow instead of multiplying. Every caller returns when the send that carried its items is confirmed,
or raises what that send raised: ingest still answers only after its readings' events are on the bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class _Lane(Generic[T]):
    __slots__ = ("items", "waiters")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.waiters: list[asyncio.Future[None]] = []


class Lanes(Generic[K, T]):
    def __init__(self, send: Callable[[K, list[T]], Awaitable[None]], *, max_items: int):
        self._send = send
        self._max_items = max_items
        self._busy: dict[K, _Lane[T]] = {}  # a lane is here while a send of it is in flight
        self._drains: set[asyncio.Task[None]] = set()
        self.sends = 0  # sends made, for tests

    async def submit(self, key: K, items: Sequence[T]) -> None:
        lane = self._busy.get(key)
        if lane is not None:
            waiter = asyncio.get_running_loop().create_future()
            lane.items.extend(items)
            lane.waiters.append(waiter)
            await waiter
            return
        lane = self._busy[key] = _Lane()
        try:
            await self._send_chunked(key, list(items))
        finally:
            if lane.items:
                task = asyncio.get_running_loop().create_task(self._drain(key, lane))
                self._drains.add(task)
                task.add_done_callback(self._drains.discard)
            else:
                del self._busy[key]

    async def close(self) -> None:
        """Wait for the sends of items already handed over."""
        while self._drains:
            await asyncio.gather(*self._drains, return_exceptions=True)

    async def _drain(self, key: K, lane: _Lane[T]) -> None:
        """Send what waited, in arrival order, until the lane is empty."""
        try:
            while lane.items:
                items, waiters = lane.items, lane.waiters
                lane.items, lane.waiters = [], []
                try:
                    await self._send_chunked(key, items)
                except BaseException as error:
                    _settle(waiters, error)
                    if not isinstance(error, Exception):
                        raise
                else:
                    _settle(waiters, None)
        finally:
            del self._busy[key]
            _settle(lane.waiters, asyncio.CancelledError())  # only when cancelled with items still waiting

    async def _send_chunked(self, key: K, items: list[T]) -> None:
        for start in range(0, len(items), self._max_items):
            self.sends += 1
            await self._send(key, items[start : start + self._max_items])


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():  # its caller was cancelled; the items went out all the same
            continue
        if error is None:
            waiter.set_result(None)
        elif isinstance(error, asyncio.CancelledError):
            waiter.cancel()
        else:
            waiter.set_exception(error)
