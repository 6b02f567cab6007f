"""An ingest that records what the sources hand it, and fails or stalls on demand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from services.telemetry.domain.model import BatchResult, RawRecord


class IngestFailed(RuntimeError):
    pass


class RecordingIngest:
    """Keeps every batch it was offered (taken or not); `taken` holds the batches it returned for."""

    def __init__(
        self,
        *,
        fail_when: Callable[[int], bool] = lambda call: False,
        stall_when: Callable[[int], bool] = lambda call: False,
    ) -> None:
        self.offered: list[list[RawRecord]] = []
        self.taken: list[list[RawRecord]] = []
        # Called with the 1-based number of the call: True makes that call raise, or wait inside ingest
        # until `release` is set (a batch in flight when a source is stopped).
        self.fail_when = fail_when
        self.stall_when = stall_when
        self.release = asyncio.Event()
        self.changed = asyncio.Event()

    async def __call__(self, records: Sequence[RawRecord]) -> BatchResult:
        self.offered.append(list(records))
        call = len(self.offered)
        self._notify()
        await asyncio.sleep(0)  # a real pipeline awaits its stores: other tasks run meanwhile
        if self.fail_when(call):
            raise IngestFailed(f"call {call} fails on purpose")
        if self.stall_when(call):
            await self.release.wait()
        self.taken.append(list(records))
        self._notify()
        return BatchResult(accepted=len(records))

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def payloads(self, batches: list[list[RawRecord]] | None = None) -> list[bytes]:
        return [record.payload for batch in (self.taken if batches is None else batches) for record in batch]  # type: ignore[misc]

    def distinct_taken(self) -> set[bytes]:
        return set(self.payloads())

    async def wait_until(self, condition: Callable[[], bool], *, within: float = 20) -> None:
        async with asyncio.timeout(within):
            while not condition():
                await self.changed.wait()
