"""Counting what the pipeline did (spec §4.1 step 6, "publish metrics"): totals since start, per source.

Plain counters updated once per batch; the bootstrap logs them periodically as one JSON line, which a log
metric filter (CloudWatch) or a scraper turns into the dashboards' rates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from services.telemetry.domain.model import BatchResult, Source


@dataclass
class IngestStats:
    batches: int = 0
    records: Counter[str] = field(default_factory=Counter)  # by source
    accepted: int = 0
    stored_datapoints: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # by reason
    anomalies: int = 0

    def count(self, source: Source | None, records: int, result: BatchResult, anomalies: int) -> None:
        self.batches += 1
        self.records[source.value if source else "mixed"] += records
        self.accepted += result.accepted
        self.stored_datapoints += result.stored_datapoints
        self.anomalies += anomalies
        for rejection in result.rejections:
            self.rejected[rejection.reason.value] += 1

    def snapshot(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "records": dict(self.records),
            "accepted": self.accepted,
            "storedDatapoints": self.stored_datapoints,
            "rejected": dict(self.rejected),
            "anomalies": self.anomalies,
        }
