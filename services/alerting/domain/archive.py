"""Archiving resolved alerts before the cleanup deletes them (spec §6.2), the pure part: which alerts are due,
how a batch splits into files, and where each file goes.

A file holds the resolved alerts of one organization and one UTC day of resolution, from one batch:
`archive/alerts/org_<organizationId>/day_<YYYY-MM-DD>/alerts_<first alertId>.jsonl`. The key follows from the
batch's first alert, so a run killed after writing a file and rerun picks the same alerts (oldest first) and
finds the same key; the file is then merged, never duplicated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.alerting.domain.alerts import Alert

DAY_MS = 86_400_000
ARCHIVE_PREFIX = "archive/alerts"
# The object store's keys allow these characters only (services/runtime/objects/store.py).
_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class ArchiveBatch:
    """Resolved alerts of one organization and one UTC day of resolution, oldest first."""

    organization_id: str
    day: str
    alerts: tuple[Alert, ...]

    @property
    def key(self) -> str:
        return archive_key(self.organization_id, self.day, self.alerts[0].alert_id)

    @property
    def alert_ids(self) -> list[str]:
        return [a.alert_id for a in self.alerts]


def cleanup_cutoff_ms(now_ms: int, older_than_days: float) -> int:
    """Alerts resolved before this instant are archived and deleted."""
    return now_ms - int(older_than_days * DAY_MS)


def day_text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def key_part(text: str) -> str:
    """`text` when a key may hold it as it is; otherwise a digest of it (never a refused key)."""
    if _SAFE.match(text) and text not in (".", ".."):
        return text
    return "x" + hashlib.sha256(text.encode()).hexdigest()[:32]


def archive_key(organization_id: str, day: str, first_alert_id: str) -> str:
    return f"{ARCHIVE_PREFIX}/org_{key_part(organization_id)}/day_{day}/alerts_{key_part(first_alert_id)}.jsonl"


def batches(alerts: Sequence[Alert]) -> list[ArchiveBatch]:
    """Resolved alerts (oldest first, as the store gives them) split per organization and day of resolution,
    in the order each group first appears."""
    groups: dict[tuple[str, str], list[Alert]] = {}
    for alert in alerts:
        if alert.resolved_at_ms is None:
            continue  # not resolved: never archived nor deleted
        groups.setdefault((alert.organization_id, day_text(alert.resolved_at_ms)), []).append(alert)
    return [ArchiveBatch(org, day, tuple(group)) for (org, day), group in groups.items()]
