"""Reconciliation: the counters converge on the source services' numbers even when events were missed (the
analytics service started after devices existed, its store was lost, an event was dead-lettered).

Cheap first: counts per status and severity (a handful of page-size-1 list calls). Only when they disagree
with the counters is the full list read and applied as facts at the time the reconciliation began, so events
newer than that still win. Data volume is overwritten from the time-series store's daily datapoint counts
(since the month's start the first time, the last two days afterwards).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.analytics.domain.facts import (
    DATAPOINT_BYTES,
    DAY_MS,
    DELETED,
    DEVICE_STATUSES,
    SEVERITIES,
    AlertFact,
    DeviceFact,
    alert_counter,
    day_of,
    day_start_ms,
    device_counter,
    month_start,
)
from services.analytics.ports import AlertCensus, CounterStore, DatapointCounts, DeviceCensus

log = logging.getLogger("iotmon.analytics")


@dataclass(frozen=True)
class ReconcileOutcome:
    devices_resynced: bool
    alerts_resynced: bool
    volume_days: int


class Reconciler:
    def __init__(self, store: CounterStore, devices: DeviceCensus, alerts: AlertCensus, datapoints: DatapointCounts):
        self._store = store
        self._devices = devices
        self._alerts = alerts
        self._datapoints = datapoints

    async def reconcile(self, organization_id: str, now_ms: int) -> ReconcileOutcome:
        today = day_of(now_ms)
        before = await self._store.numbers(organization_id, today)
        counters = before.counters
        devices = await self._reconcile_devices(organization_id, counters, now_ms, today)
        alerts = await self._reconcile_alerts(organization_id, counters, now_ms, today)
        first = before.reconciled_at_ms is None
        since = day_start_ms(month_start(today)) if first else day_start_ms(today) - DAY_MS
        since = min(since, day_start_ms(today) - DAY_MS)
        datapoints = await self._datapoints.daily(organization_id, since, now_ms + 1)
        days = {day_of(ms): 0 for ms in range(since, day_start_ms(today) + 1, DAY_MS)}
        days.update({day: n * DATAPOINT_BYTES for day, n in datapoints.items()})
        await self._store.set_volume(organization_id, days)
        await self._store.mark_reconciled(organization_id, now_ms)
        return ReconcileOutcome(devices, alerts, len(days))

    async def _reconcile_devices(self, org: str, counters: dict[str, int], now_ms: int, today: str) -> bool:
        remote = await self._devices.counts(org)
        if all(remote.get(s, 0) == counters.get(device_counter(s), 0) for s in DEVICE_STATUSES):
            return False
        log.info("device counters differ from the device service; resyncing", extra={"organizationId": org})
        listed = await self._devices.statuses(org)
        facts = [DeviceFact(org, device_id, status, now_ms) for device_id, status in listed.items()]
        gone = await self._store.live_device_ids(org) - listed.keys()
        facts.extend(DeviceFact(org, device_id, DELETED, now_ms) for device_id in sorted(gone))
        await self._store.apply_devices(facts, today)
        return True

    async def _reconcile_alerts(self, org: str, counters: dict[str, int], now_ms: int, today: str) -> bool:
        remote = await self._alerts.counts(org)
        if all(remote.get(s, 0) == counters.get(alert_counter(s), 0) for s in SEVERITIES):
            return False
        log.info("alert counters differ from the alerting service; resyncing", extra={"organizationId": org})
        listed = await self._alerts.active(org)
        facts = [AlertFact(org, alert_id, severity, True, now_ms) for alert_id, severity in listed.items()]
        gone = await self._store.active_alert_ids(org) - listed.keys()
        facts.extend(AlertFact(org, alert_id, "", False, now_ms) for alert_id in sorted(gone))
        await self._store.apply_alerts(facts, today)
        return True
