"""The live progress line: rewritten in place once a second on a terminal, plain lines otherwise."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TextIO

from iotmon.simulate.stats import Counters

TERMINAL_INTERVAL = 1.0
LOG_INTERVAL = 5.0


def progress_line(elapsed: float, counters: Counters, sent_rate: float, acknowledged_rate: float) -> str:
    return (
        f"{elapsed:7.1f}s  sent {counters.sent:>11,} ({sent_rate:>8,.0f}/s)  "
        f"acked {counters.acknowledged:>11,} ({acknowledged_rate:>8,.0f}/s)  failed {counters.failed:,}"
    )


class Progress:
    """Prints the counters every interval; rates are over the last interval, not the whole run."""

    def __init__(self, counters: Counters, out: TextIO, interval: float | None = None):
        self._counters = counters
        self._out = out
        self._terminal = out.isatty()
        self._interval = interval or (TERMINAL_INTERVAL if self._terminal else LOG_INTERVAL)
        self._started = time.monotonic()
        self._last = (self._started, 0, 0)
        self._width = 0
        self.extra: Callable[[], str] | None = None  # more to show on the line (the firmware job counts)

    def say(self, message: str) -> None:
        """A message of its own (registration, errors) that does not garble the progress line."""
        self._clear()
        self._out.write(message + "\n")
        self._out.flush()

    def start(self) -> None:
        """Sending begins: elapsed time and rates count from here, not from registration."""
        self._started = time.monotonic()
        self._last = (self._started, self._counters.sent, self._counters.acknowledged)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.show()

    def show(self) -> None:
        now = time.monotonic()
        then, sent, acknowledged = self._last
        span = max(now - then, 1e-9)
        counters = self._counters
        line = progress_line(
            now - self._started, counters, (counters.sent - sent) / span, (counters.acknowledged - acknowledged) / span
        )
        if self.extra is not None:
            line += "  " + self.extra()
        self._last = (now, counters.sent, counters.acknowledged)
        if self._terminal:
            self._out.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self._out.write(line + "\n")
        self._out.flush()

    def finish(self) -> None:
        """Show the final counts in place and end the line, so the summary starts on a line of its own."""
        if self._terminal:
            self.show()
            self._out.write("\n")
            self._out.flush()
            self._width = 0

    def _clear(self) -> None:
        if self._terminal and self._width:
            self._out.write("\r" + " " * self._width + "\r")
            self._width = 0
