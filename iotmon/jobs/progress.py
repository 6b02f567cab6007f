"""What a job shows while it runs: a live progress bar on a terminal (rich), plain lines otherwise (CronJob logs)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Protocol, Self, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

# Plain lines are written at most this often (a CronJob's log is not a terminal; one line per step is noise).
PLAIN_INTERVAL_SECONDS = 2.0


class ProgressDisplay(Protocol):
    def update(self, stage: str, done: int, total: int, counters: Mapping[str, float]) -> None: ...

    def line(self, text: str) -> None:
        """A line that stays (a table row, a summary)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...


def format_counters(counters: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {_number(value)}" for name, value in sorted(counters.items()))


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"


class PlainProgress:
    """One line per step, throttled; the last step is always written."""

    def __init__(self, job: str, out: TextIO) -> None:
        self._job = job
        self._out = out
        self._written_at = 0.0
        self._pending: str | None = None

    def update(self, stage: str, done: int, total: int, counters: Mapping[str, float]) -> None:
        of = f"{done}/{total}" if total else f"{done}"
        text = f"[{self._job}] {stage} ({of})" + (f": {format_counters(counters)}" if counters else "")
        now = time.monotonic()
        if now - self._written_at >= PLAIN_INTERVAL_SECONDS:
            self._write(text)
            self._written_at = now
            self._pending = None
        else:
            self._pending = text

    def line(self, text: str) -> None:
        self._flush()
        self._write(text)

    def _flush(self) -> None:
        if self._pending is not None:
            self._write(self._pending)
            self._pending = None

    def _write(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._flush()


class TerminalProgress:
    """A rich progress bar with the job's counters beside it."""

    def __init__(self, job: str, out: TextIO) -> None:
        self._console = Console(file=out)
        self._progress = Progress(
            TextColumn(f"[bold]{job}[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=self._console,
        )
        self._task: TaskID | None = None

    def update(self, stage: str, done: int, total: int, counters: Mapping[str, float]) -> None:
        description = stage + (f"  {format_counters(counters)}" if counters else "")
        if self._task is None:
            self._task = self._progress.add_task(description, total=total or None, completed=done)
        else:
            self._progress.update(self._task, description=description, completed=done, total=total or None)

    def line(self, text: str) -> None:
        self._progress.console.print(text, markup=False, highlight=False)

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.stop()


def progress_for(job: str, out: TextIO | None = None) -> ProgressDisplay:
    stream = out or sys.stdout
    if stream.isatty():
        return TerminalProgress(job, stream)
    return PlainProgress(job, stream)
