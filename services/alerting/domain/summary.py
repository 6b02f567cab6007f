"""Alert counts for other services (internal SummarizeAlerts): analytics' alert-summary report (§3.5.3).

Alerts triggered in [start, end) of one organization, optionally of some devices, counted by UTC trigger day,
device, severity and current status; resolved ones also sum their time to resolution (mean time to resolve).
The store is read a page at a time, so memory holds the tallies, not the alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.alerting.domain.alerts import Alert, AlertStatus
from services.alerting.domain.listing import AlertFilter
from services.alerting.ports import AlertStore
from services.kernel.caller import Caller
from services.kernel.errors import PermissionDenied, Violations
from services.kernel.pagination import PageRequest

PAGE_SIZE = 500
MAX_DEVICES = 500
MAX_RANGE_MS = 400 * 86_400_000


@dataclass(frozen=True)
class AlertTally:
    day: str  # YYYY-MM-DD, UTC, of the trigger
    device_id: str
    device_name: str
    severity: str
    status: str
    count: int
    resolution_seconds: float  # summed over the resolved alerts of the tally


def tally(alerts: Iterable[Alert]) -> list[AlertTally]:
    """Tallies ordered by day, device id, severity and status."""
    counts: dict[tuple[str, str, str, str], list[float]] = {}
    names: dict[str, str] = {}
    for alert in alerts:
        key = (_day(alert.triggered_at_ms), alert.device_id, alert.severity.value, alert.status.value)
        entry = counts.setdefault(key, [0, 0.0])
        entry[0] += 1
        if alert.status is AlertStatus.RESOLVED and alert.resolved_at_ms is not None:
            entry[1] += max(0, alert.resolved_at_ms - alert.triggered_at_ms) / 1000
        names.setdefault(alert.device_id, alert.device_name)
    return [
        AlertTally(day, device_id, names[device_id], severity, status, int(count), seconds)
        for (day, device_id, severity, status), (count, seconds) in sorted(counts.items())
    ]


class AlertSummaries:
    def __init__(self, store: AlertStore, *, page_size: int = PAGE_SIZE):
        self._store = store
        self._page_size = page_size

    async def summarize(
        self, caller: Caller, organization_id: str, start_ms: int, end_ms: int, device_ids: tuple[str, ...] = ()
    ) -> list[AlertTally]:
        if not caller.is_service:
            raise PermissionDenied("only the platform's services may summarize alerts")
        _validate(organization_id, start_ms, end_ms, device_ids)
        wanted = set(device_ids)
        found: list[Alert] = []
        # One device: the store filters; several: one pass over the range, filtered here.
        device = device_ids[0] if len(wanted) == 1 else None
        query = AlertFilter(device_id=device, start_ms=start_ms, end_ms=end_ms - 1)  # the filter's end is inclusive
        page = 1
        while True:
            listed = await self._store.list_alerts(organization_id, query, PageRequest(page, self._page_size))
            found.extend(a for a in listed.items if not wanted or a.device_id in wanted)
            if not listed.has_next:
                return tally({a.alert_id: a for a in found}.values())  # a page shift may repeat an alert
            page += 1


def _validate(organization_id: str, start_ms: int, end_ms: int, device_ids: tuple[str, ...]) -> None:
    problems = Violations()
    if not organization_id:
        problems.add("organizationId", "is required")
    if len(set(device_ids)) > MAX_DEVICES:
        problems.add("deviceIds", f"at most {MAX_DEVICES}, got {len(set(device_ids))}")
    if end_ms <= start_ms:
        problems.add("endTime", "must be after startTime")
    elif end_ms - start_ms > MAX_RANGE_MS:
        problems.add("endTime", "the range may span at most 400 days")
    problems.raise_if_any()


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%d")
