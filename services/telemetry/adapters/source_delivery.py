"""What both sources do with a batch: hand it to the pipeline until it has been taken, then acknowledge.

A raising ingest means the pipeline could not store the batch (store down, device service unreachable): the
batch is offered again after a growing pause, and nothing is acknowledged upstream in between, so a crash at
any moment leaves the records with the broker or in the stream. Records refused one by one are not failures:
the pipeline has dead-lettered them and the batch counts as taken.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from services.telemetry.domain.model import BatchResult, RawRecord
from services.telemetry.ports import Ingest

FIRST_RETRY_DELAY = 0.2
MAX_RETRY_DELAY = 10.0


async def ingest_until_taken(
    ingest: Ingest,
    records: Sequence[RawRecord],
    log: logging.Logger,
    *,
    still_ours: Callable[[], bool] = lambda: True,
    first_delay: float = FIRST_RETRY_DELAY,
    max_delay: float = MAX_RETRY_DELAY,
) -> BatchResult | None:
    """The pipeline's result, or None when `still_ours()` turned false before it succeeded (a Kinesis lease
    taken by another replica: the new owner reads these records again)."""
    delay = first_delay
    failures = 0
    while still_ours():
        try:
            return await ingest(records)
        except Exception:  # any failure of the pipeline: keep the records unacknowledged and try again
            failures += 1
            # The first failure with its traceback; after that a line per attempt is enough.
            log.error(
                "ingest failed, batch kept unacknowledged",
                exc_info=failures == 1,
                extra={"records": len(records), "failures": failures, "retryInSeconds": delay},
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
    return None
