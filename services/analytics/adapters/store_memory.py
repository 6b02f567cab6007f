"""The CounterStore in memory (IOTMON_ANALYTICS_STORE=memory, tests): forgets everything on restart."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from services.analytics.domain.dashboard import Snapshot, StoredNumbers, active_alerts, devices_online
from services.analytics.domain.facts import DELETED as DELETED_STATUS
from services.analytics.domain.facts import (
    AlertFact,
    Deltas,
    DeviceFact,
    StoredAlert,
    StoredDevice,
    alert_deltas,
    device_deltas,
    month_start,
)


class InMemoryCounterStore:
    def __init__(self) -> None:
        self.devices: dict[tuple[str, str], StoredDevice] = {}
        self.alerts: dict[tuple[str, str], tuple[StoredAlert, int]] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.snapshots: dict[tuple[str, str], Snapshot] = {}
        self.volume: dict[tuple[str, str], int] = {}
        self.seen: dict[str, int] = {}
        self.reconciled: dict[str, int] = {}

    async def apply_devices(self, facts: Sequence[DeviceFact], day: str) -> None:
        touched: set[str] = set()
        for fact in facts:
            key = (fact.organization_id, fact.device_id)
            deltas = device_deltas(self.devices.get(key), fact)
            if deltas is None:
                continue
            self.devices[key] = StoredDevice(fact.status, fact.at_ms)
            self._add(fact.organization_id, deltas)
            touched.add(fact.organization_id)
        self._snapshot(touched, day)

    async def apply_alerts(self, facts: Sequence[AlertFact], day: str) -> None:
        touched: set[str] = set()
        for fact in facts:
            key = (fact.organization_id, fact.alert_id)
            stored = self.alerts.get(key)
            deltas = alert_deltas(stored[0] if stored else None, fact)
            if deltas is None:
                continue
            severity = stored[0].severity if stored else fact.severity
            self.alerts[key] = (StoredAlert(severity, fact.active), fact.at_ms)
            self._add(fact.organization_id, deltas)
            touched.add(fact.organization_id)
        self._snapshot(touched, day)

    async def live_device_ids(self, organization_id: str) -> set[str]:
        return {d for (o, d), s in self.devices.items() if o == organization_id and s.status != DELETED_STATUS}

    async def active_alert_ids(self, organization_id: str) -> set[str]:
        return {a for (o, a), (s, _) in self.alerts.items() if o == organization_id and s.active}

    async def add_volume(self, event_id: str, organization_id: str, bytes_by_day: Mapping[str, int]) -> bool:
        if event_id in self.seen:
            return False
        self.seen[event_id] = int(time.time() * 1000)
        for day, n in bytes_by_day.items():
            self.volume[(organization_id, day)] = self.volume.get((organization_id, day), 0) + n
        return True

    async def set_volume(self, organization_id: str, bytes_by_day: Mapping[str, int]) -> None:
        for day, n in bytes_by_day.items():
            self.volume[(organization_id, day)] = n

    async def numbers(self, organization_id: str, today: str) -> StoredNumbers:
        first = month_start(today)
        month = {d: n for (o, d), n in self.volume.items() if o == organization_id and first <= d <= today}
        earlier = [s for (o, d), s in self.snapshots.items() if o == organization_id and d < today]
        return StoredNumbers(
            counters=dict(self.counters.get(organization_id, {})),
            volume_today=month.get(today, 0),
            volume_month=sum(month.values()),
            baseline=max(earlier, key=lambda s: s.day) if earlier else None,
            reconciled_at_ms=self.reconciled.get(organization_id),
        )

    async def mark_reconciled(self, organization_id: str, at_ms: int) -> None:
        self.reconciled[organization_id] = at_ms

    async def forget_events_before(self, at_ms: int) -> int:
        old = [event_id for event_id, seen_at in self.seen.items() if seen_at < at_ms]
        for event_id in old:
            del self.seen[event_id]
        return len(old)

    async def close(self) -> None:
        return None

    def _add(self, organization_id: str, deltas: Deltas) -> None:
        counters = self.counters.setdefault(organization_id, {})
        for name, delta in deltas.items():
            counters[name] = counters.get(name, 0) + delta

    def _snapshot(self, organizations: set[str], day: str) -> None:
        for organization_id in organizations:
            counters = self.counters.get(organization_id, {})
            self.snapshots[(organization_id, day)] = Snapshot(day, devices_online(counters), active_alerts(counters))
