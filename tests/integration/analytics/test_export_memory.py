"""An export of 2 million rows streams from the time-series store through telemetry's StreamReadings into
the object store in flat memory: the process's RSS (both services and the worker share it here) grows far
less than the export's size, and the file holds every row once, in time order."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.integration.analytics.export_harness import START_MS, export_many_rows
from tests.support.tokens import TokenMinter

ROWS = 2_000_000


@pytest.mark.timeout(900)
async def test_two_million_rows_export_in_flat_memory(tmp_path: Path, token_minter: TokenMinter) -> None:
    run = await export_many_rows(token_minter, tmp_path, ROWS, "csv")
    assert run.rows_written == ROWS
    size = run.file.stat().st_size
    assert run.job.size == size
    assert size > 80 * ROWS / 2  # about 50 bytes a row: the file is far larger than the memory bound
    assert run.growth_mb < 100, f"RSS grew {run.growth_mb:.0f} MB for a {size / 1e6:.0f} MB export"
    with run.file.open() as file:
        assert next(file) == "timestamp,deviceId,metric,value\n"
        first = next(file).split(",")
        assert first[0] == "2025-01-01T00:00:00.000Z"
        lines = 2
        previous = first[0]
        for line in itertools.islice(file, 0, None, 9973):  # a sample of the rest: ordered by time
            stamp = line.split(",", 1)[0]
            assert stamp >= previous
            previous = stamp
        assert START_MS > 0
    with run.file.open("rb") as file:
        lines = sum(1 for _ in file)
    assert lines == ROWS + 1
