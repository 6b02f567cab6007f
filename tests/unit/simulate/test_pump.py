"""The pump: exact counts, the requested rate, batches filled by lingering, stopping, and no burst after a stall.

Rates are checked against how long the pump really ran, so a busy machine does not fail them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from iotmon.simulate import SimulationOptions, Via
from iotmon.simulate.generator import ReadingGenerator, TelemetryRecord
from iotmon.simulate.runner import pump


class RecordingTransport:
    """An in-memory transport: keeps every slice it is handed; can stall once, like a slow broker."""

    def __init__(self, max_batch: int = 100, linger: float = 0.0, stall: float = 0.0):
        self.max_batch = max_batch
        self.linger = linger
        self.batches: list[list[TelemetryRecord]] = []
        self._stall = stall

    async def send(self, records: list[TelemetryRecord]) -> None:
        self.batches.append(records)
        if self._stall:
            stall, self._stall = self._stall, 0.0
            await asyncio.sleep(stall)

    async def drain(self) -> None:
        return None


@dataclass
class Pumped:
    sent: int
    seconds: float


async def run(transport: RecordingTransport, stop_after: float | None = None, **settings: Any) -> Pumped:
    from iotmon.simulate.stats import Counters

    options = SimulationOptions(**({"devices": 10, "rate": 0, "via": Via.HTTP} | settings))
    counters = Counters()
    generator = ReadingGenerator([f"dev-{i}" for i in range(10)], seed=1)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if stop_after is not None:
        loop.call_later(stop_after, stop.set)
    started = loop.time()
    await asyncio.wait_for(pump(generator, transport, counters, options, stop), 10)
    assert counters.sent == sum(len(b) for b in transport.batches)
    return Pumped(counters.sent, loop.time() - started)


async def test_a_count_is_sent_exactly_in_slices_the_transport_takes() -> None:
    transport = RecordingTransport(max_batch=100)
    pumped = await run(transport, count=1_234)

    assert pumped.sent == 1_234
    assert max(len(b) for b in transport.batches) == 100


async def test_the_rate_is_kept_until_the_duration_ends() -> None:
    pumped = await run(RecordingTransport(), rate=2_000, duration=0.6)

    assert pumped.sent == 1_200, "what is due by the end of the duration, no more, no less"
    assert pumped.seconds < 1.5


async def test_a_batching_transport_gets_filled_batches_not_a_trickle() -> None:
    transport = RecordingTransport(max_batch=100, linger=0.1)
    pumped = await run(transport, rate=400, duration=1.0)

    assert pumped.sent == 400
    assert len(transport.batches) <= 14, "about ten batches of ~40, not two hundred of 2"
    assert max(len(b) for b in transport.batches) >= 30


async def test_a_stop_ends_an_endless_run() -> None:
    pumped = await run(RecordingTransport(), stop_after=0.2, rate=1_000)

    assert pumped.seconds < 1.0
    assert 0.6 * 1_000 * pumped.seconds <= pumped.sent <= 1_000 * pumped.seconds + 20


async def test_after_a_stall_at_most_a_second_is_caught_up() -> None:
    pumped = await run(RecordingTransport(stall=1.5), rate=1_000, duration=2.5)

    # 2,500 were due; the 1.5 s stall leaves 0.5 s of readings skipped instead of sent in a burst.
    assert 1_500 <= pumped.sent <= 2_250
