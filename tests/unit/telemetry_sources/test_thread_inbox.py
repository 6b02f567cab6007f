"""Batches handed from a foreign thread to the event loop: full batches at once, partial ones after linger."""

from __future__ import annotations

import asyncio
import threading
import time

from services.telemetry.adapters.source_inbox import ThreadInbox


async def test_a_full_batch_is_handed_over_without_waiting_for_the_linger_time() -> None:
    inbox: ThreadInbox[int] = ThreadInbox(asyncio.get_running_loop(), batch_size=3)
    for n in range(7):
        inbox.put(n)
    started = time.monotonic()
    assert await inbox.next_batch(linger_seconds=5) == [0, 1, 2]
    assert await inbox.next_batch(linger_seconds=5) == [3, 4, 5]
    assert time.monotonic() - started < 1
    assert len(inbox) == 1


async def test_a_partial_batch_waits_for_the_linger_time_then_goes() -> None:
    inbox: ThreadInbox[int] = ThreadInbox(asyncio.get_running_loop(), batch_size=100)
    inbox.put(1)
    started = time.monotonic()
    assert await inbox.next_batch(linger_seconds=0.2) == [1]
    assert 0.15 < time.monotonic() - started < 2


async def test_items_put_from_another_thread_wake_the_waiting_loop() -> None:
    inbox: ThreadInbox[int] = ThreadInbox(asyncio.get_running_loop(), batch_size=50)

    def producer() -> None:
        for n in range(1000):
            inbox.put(n)

    thread = threading.Thread(target=producer)
    taking = asyncio.ensure_future(_take(inbox, 1000))
    thread.start()
    batches = await asyncio.wait_for(taking, 10)
    thread.join()
    assert [n for batch in batches for n in batch] == list(range(1000))  # nothing lost, order kept
    assert max(len(batch) for batch in batches) == 50


async def _take(inbox: ThreadInbox[int], count: int) -> list[list[int]]:
    batches: list[list[int]] = []
    while sum(map(len, batches)) < count:
        batches.append(await inbox.next_batch(linger_seconds=0.05))
    return batches
