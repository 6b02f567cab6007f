"""Clocks for adapters that take `clock: Callable[[], float]` (time.monotonic by default)."""

from __future__ import annotations


class ManualClock:
    """Seconds that stand still until the test moves `now` on."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
