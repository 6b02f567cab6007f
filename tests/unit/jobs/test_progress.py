"""Progress as plain lines when the output is not a terminal (CronJob logs)."""

from __future__ import annotations

import io

from iotmon.jobs.progress import PlainProgress, progress_for


def test_plain_lines_are_throttled_but_the_last_step_is_written() -> None:
    out = io.StringIO()
    with progress_for("archival", out) as progress:
        assert isinstance(progress, PlainProgress)
        for done in range(1, 101):
            progress.update("archiving", done, 100, {"rowsArchived": done * 10.0})
    lines = out.getvalue().splitlines()
    assert lines[0] == "[archival] archiving (1/100): rowsArchived 10"
    assert lines[-1] == "[archival] archiving (100/100): rowsArchived 1,000"
    assert len(lines) < 10


def test_lines_that_stay_flush_the_pending_step_first() -> None:
    out = io.StringIO()
    with progress_for("health-check", out) as progress:
        progress.update("checking", 0, 0, {})
        progress.update("checked", 3, 3, {"failed": 0.0})
        progress.line("check  status  detail")
    assert out.getvalue().splitlines() == [
        "[health-check] checking (0)",
        "[health-check] checked (3/3): failed 0",
        "check  status  detail",
    ]
