"""What the pump needs of a transport, whichever way the records travel."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from iotmon.simulate.errors import SimulationError
from iotmon.simulate.generator import TelemetryRecord
from iotmon.simulate.stats import Counters

log = logging.getLogger("iotmon.simulate")


class TransportError(SimulationError):
    """The transport cannot work at all (broker unreachable, stream missing, credentials refused)."""


class Transport(Protocol):
    # The most records one send() takes; the pump slices what is due into pieces of this size.
    max_batch: int
    # Seconds the pump may wait to fill a batch (0: send whatever is due at once).
    linger: float

    async def send(self, records: list[TelemetryRecord]) -> None:
        """Hand records over; may return before they are acknowledged, and waits when too many are pending."""
        ...

    async def drain(self) -> None:
        """Wait for the acknowledgements of everything sent (the caller bounds the wait with a timeout;
        whatever is still unanswered when the transport closes counts as failed)."""
        ...


class InFlight:
    """Requests running concurrently, at most `limit` at once: start() waits for a free slot."""

    def __init__(self, limit: int, counters: Counters):
        self._slots = asyncio.Semaphore(limit)
        self._running: dict[asyncio.Task[None], int] = {}
        self._counters = counters

    async def start(self, request: Coroutine[Any, Any, None], records: int) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(request)
        self._running[task] = records
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        records = self._running.pop(task)
        self._slots.release()
        if task.cancelled():
            self._counters.fail(records, "NOT_ANSWERED")
        elif (error := task.exception()) is not None:
            # Requests count their own expected failures; anything else is a bug worth seeing.
            log.error("request failed unexpectedly", exc_info=error)
            self._counters.fail(records, type(error).__name__)

    async def wait(self) -> None:
        """Wait for the running requests."""
        if self._running:
            await asyncio.wait(list(self._running))

    async def abandon(self) -> None:
        """Cancel the requests still running; their records count as failed."""
        late = list(self._running)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
