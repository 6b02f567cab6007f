"""Lanes: one send in flight per lane; what arrives meanwhile leaves together; callers wait for their send."""

from __future__ import annotations

import asyncio

import pytest

from services.telemetry.adapters.lanes import Lanes


class Recorder:
    """A send that records what it carried and waits until the test lets it finish."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[int]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures: dict[int, Exception] = {}  # by the send's number, from 0

    async def send(self, key: str, items: list[int]) -> None:
        number = len(self.sent)
        self.sent.append((key, list(items)))
        await self.gate.wait()
        if number in self.failures:
            raise self.failures[number]


async def until(condition: object) -> None:
    for _ in range(100):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def first_send_held(recorder: Recorder) -> tuple[Lanes[str, int], asyncio.Task[None]]:
    """Lanes whose lane "a" has a first send of [1] in flight, held until the test sets the gate."""
    recorder.gate.clear()
    lanes: Lanes[str, int] = Lanes(recorder.send, max_items=100)
    first = asyncio.create_task(lanes.submit("a", [1]))
    await until(lambda: len(recorder.sent) == 1)
    return lanes, first


async def test_an_idle_lane_sends_at_once() -> None:
    recorder = Recorder()
    lanes: Lanes[str, int] = Lanes(recorder.send, max_items=100)
    await lanes.submit("a", [1, 2])
    assert recorder.sent == [("a", [1, 2])]


async def test_items_arriving_during_a_send_leave_together_in_arrival_order() -> None:
    recorder = Recorder()
    lanes, first = await first_send_held(recorder)
    later = [asyncio.create_task(lanes.submit("a", [n, n + 1])) for n in (10, 20, 30)]
    await until(lambda: all(not task.done() for task in later))
    assert recorder.sent == [("a", [1])]  # nothing more while the first send is in flight
    recorder.gate.set()
    await asyncio.gather(first, *later)
    assert recorder.sent == [("a", [1]), ("a", [10, 11, 20, 21, 30, 31])]
    assert lanes.sends == 2


async def test_a_caller_returns_only_when_the_send_carrying_its_items_did() -> None:
    recorder = Recorder()
    lanes, first = await first_send_held(recorder)
    second = asyncio.create_task(lanes.submit("a", [2]))
    recorder.gate.set()
    await first
    recorder.gate.clear()  # the second send is now held
    await until(lambda: len(recorder.sent) == 2)
    assert not second.done()
    recorder.gate.set()
    await second


async def test_lanes_of_different_keys_send_concurrently() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    lanes: Lanes[str, int] = Lanes(recorder.send, max_items=100)
    tasks = [asyncio.create_task(lanes.submit(key, [n])) for n, key in enumerate("abc")]
    await until(lambda: len(recorder.sent) == 3)
    recorder.gate.set()
    await asyncio.gather(*tasks)
    assert sorted(recorder.sent) == [("a", [0]), ("b", [1]), ("c", [2])]


async def test_a_send_is_at_most_max_items() -> None:
    recorder = Recorder()
    lanes: Lanes[str, int] = Lanes(recorder.send, max_items=3)
    await lanes.submit("a", list(range(7)))
    assert [items for _, items in recorder.sent] == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_failed_send_fails_every_caller_it_carried_and_the_lane_goes_on() -> None:
    recorder = Recorder()
    recorder.failures[1] = RuntimeError("broker gone")
    lanes, first = await first_send_held(recorder)
    carried = [asyncio.create_task(lanes.submit("a", [n])) for n in (2, 3)]
    await asyncio.sleep(0)
    recorder.gate.set()
    await first
    results = await asyncio.gather(*carried, return_exceptions=True)
    assert recorder.sent == [("a", [1]), ("a", [2, 3])]
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    await lanes.submit("a", [4])
    assert recorder.sent[-1] == ("a", [4])


async def test_a_cancelled_caller_does_not_stop_its_items_or_the_others() -> None:
    recorder = Recorder()
    lanes, first = await first_send_held(recorder)
    quitter = asyncio.create_task(lanes.submit("a", [2]))
    stayer = asyncio.create_task(lanes.submit("a", [3]))
    await asyncio.sleep(0)
    quitter.cancel()
    recorder.gate.set()
    await asyncio.gather(first, stayer)
    with pytest.raises(asyncio.CancelledError):
        await quitter
    await lanes.close()
    assert recorder.sent == [("a", [1]), ("a", [2, 3])]
