"""Export memory: N datapoints (default 10 million) exported to CSV or JSON Lines through the real path —
telemetry's StreamReadings over gRPC into the filesystem object store — while the process's RSS is sampled.

    python bench/export_memory.py [--rows 10000000] [--format csv|json]

Prints rows/s and the peak RSS against the baseline taken just before the export (the device and telemetry
services run in the same process, so the figure bounds all three). The readings are written straight into
the embedded DuckDB store first (not timed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.analytics.export_harness import export_many_rows
from tests.support.tokens import TokenMinter


async def main(rows: int, format: str) -> None:
    with tempfile.TemporaryDirectory(prefix="iotmon-export-bench-") as directory:
        root = Path(directory)
        minter = TokenMinter.create(root / "keys")
        run = await export_many_rows(minter, root / "data", rows, format)
        size = run.file.stat().st_size
        print(f"rows exported      {run.rows_written:,} ({format}, {size / 1e6:,.0f} MB file)")
        print(f"time               {run.seconds:,.1f} s  ({run.rows_written / run.seconds:,.0f} rows/s)")
        print(f"baseline RSS       {run.baseline_rss / 1e6:,.0f} MB")
        print(f"peak RSS           {run.peak_rss / 1e6:,.0f} MB  (+{run.growth_mb:,.0f} MB during the export)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rows, arguments.format))
