"""A batch of raw records as columns: RawRecord's fields, transposed.

Sources that receive records one by one hand the pipeline RawRecords; the API receives a whole batch at once
for one organization, and builds the columns straight from the decoded records — no object per record before
validation, on the path that carries the most records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.telemetry.domain.model import RawRecord, Source


@dataclass(frozen=True)
class Batch:
    payloads: Sequence[object]
    sources: Sequence[Source]
    received_at_ms: Sequence[int]
    organizations: Sequence[str | None]  # each record's RawRecord.required_organization
    topics: Sequence[str | None]  # each record's RawRecord.topic_device_id

    @classmethod
    def of(cls, records: Sequence[RawRecord]) -> Batch:
        return cls(
            [r.payload for r in records],
            [r.source for r in records],
            [r.received_at_ms for r in records],
            [r.required_organization for r in records],
            [r.topic_device_id for r in records],
        )

    @classmethod
    def uniform(
        cls, payloads: Sequence[object], source: Source, received_at_ms: int, organization: str | None
    ) -> Batch:
        """Records that arrived together, for one organization (or for the platform when None)."""
        count = len(payloads)
        return cls(payloads, [source] * count, [received_at_ms] * count, [organization] * count, [None] * count)

    def __len__(self) -> int:
        return len(self.payloads)

    @property
    def source(self) -> Source | None:
        """The batch's source, for the counters: the first record's (a batch comes from one source)."""
        return self.sources[0] if self.sources else None
