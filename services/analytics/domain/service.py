"""The analytics use cases: the dashboard (§3.5.1), the sensor-data query (§3.5.2), and the event appliers
that keep the dashboard's counters.

The dashboard reads counters only (a handful of rows), never scans. An organization's counters are
reconciled with the source services when its dashboard is read and they were last reconciled longer ago than
`reconcile_every_ms` (never: before answering, so the first answer is already right; otherwise in the
background, the answer using the counters as they are). Alerts can only be counted with the caller's own
token (the alerting service lists one organization's alerts only for its users), which is why
reconciliation follows reads rather than running over every organization from a timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from services.analytics.domain.dashboard import DashboardStats, dashboard
from services.analytics.domain.facts import AlertFact, DayReadings, DeviceFact, day_of, volume_of_days
from services.analytics.domain.query import DevicesNotFound, QueryRequest, QueryResult, plan_query, shape_result
from services.analytics.domain.reconcile import Reconciler
from services.analytics.ports import CounterStore, DeviceOwnership, SeriesSource
from services.kernel.caller import Caller, Role
from services.kernel.errors import PermissionDenied

log = logging.getLogger("iotmon.analytics")

HOUR_MS = 3_600_000


class AnalyticsService:
    def __init__(
        self,
        *,
        store: CounterStore,
        reconciler: Reconciler,
        ownership: DeviceOwnership,
        series: SeriesSource,
        now_ms: Callable[[], int],
        reconcile_every_ms: int = HOUR_MS,
        reconcile_timeout_s: float = 10.0,
    ):
        self._store = store
        self._reconciler = reconciler
        self._ownership = ownership
        self._series = series
        self._now_ms = now_ms
        self._reconcile_every_ms = reconcile_every_ms
        self._reconcile_timeout_s = reconcile_timeout_s
        self._running: dict[str, asyncio.Task[None]] = {}
        self._tried_at: dict[str, int] = {}

    # Dashboard (§3.5.1).

    async def dashboard(self, caller: Caller) -> DashboardStats:
        caller.require(Role.VIEWER, "read the dashboard")
        organization_id = _own_organization(caller)
        now_ms = self._now_ms()
        numbers = await self._store.numbers(organization_id, day_of(now_ms))
        if numbers.reconciled_at_ms is None:
            # First sight of the organization: its devices may predate this service. Answer once counted, or
            # with what the events gave if a peer is slow (the next read tries again).
            task = self._reconcile_soon(organization_id, now_ms)
            if task is not None:
                await asyncio.wait([task], timeout=self._reconcile_timeout_s)
                numbers = await self._store.numbers(organization_id, day_of(self._now_ms()))
        elif now_ms - numbers.reconciled_at_ms >= self._reconcile_every_ms:
            self._reconcile_soon(organization_id, now_ms)
        return dashboard(numbers)

    def _reconcile_soon(self, organization_id: str, now_ms: int) -> asyncio.Task[None] | None:
        """Start one reconciliation per organization (the task keeps the caller's token: contextvars are copied);
        after a failure, wait a minute before the next try."""
        running = self._running.get(organization_id)
        if running is not None:
            return running
        if now_ms - self._tried_at.get(organization_id, -HOUR_MS) < 60_000:
            return None
        self._tried_at[organization_id] = now_ms
        task = asyncio.create_task(self._reconcile(organization_id))
        self._running[organization_id] = task
        task.add_done_callback(lambda _: self._running.pop(organization_id, None))
        return task

    async def _reconcile(self, organization_id: str) -> None:
        try:
            outcome = await self._reconciler.reconcile(organization_id, self._now_ms())
        except Exception:
            log.warning("reconciliation failed; the counters stay as the events left them", exc_info=True)
            return
        self._tried_at.pop(organization_id, None)
        log.info(
            "counters reconciled",
            extra={
                "organizationId": organization_id,
                "devicesResynced": outcome.devices_resynced,
                "alertsResynced": outcome.alerts_resynced,
            },
        )

    async def wait_reconciled(self) -> None:
        """Wait for the reconciliations in progress (tests, shutdown)."""
        if self._running:
            await asyncio.wait(list(self._running.values()))

    # Query (§3.5.2).

    async def query(self, caller: Caller, request: QueryRequest) -> QueryResult:
        caller.require(Role.VIEWER, "query sensor data")
        organization_id = _own_organization(caller)
        plan = plan_query(request)
        owned = await self._ownership.owned(organization_id, plan.device_ids)
        missing = [device_id for device_id in plan.device_ids if device_id not in owned]
        if missing:
            raise DevicesNotFound(missing)
        return shape_result(plan, await self._series.aggregate(organization_id, plan))

    # Events (bus consumers call these; raising makes the bus redeliver).

    async def on_devices(self, facts: list[DeviceFact]) -> None:
        await self._store.apply_devices(facts, day_of(self._now_ms()))

    async def on_alerts(self, facts: list[AlertFact]) -> None:
        await self._store.apply_alerts(facts, day_of(self._now_ms()))

    async def on_days(self, event_id: str, organization_id: str, days: list[DayReadings]) -> None:
        """An event's readings as counted per UTC day; counted once per event id."""
        if days:
            await self._store.add_volume(event_id, organization_id, volume_of_days(days))


def _own_organization(caller: Caller) -> str:
    if caller.is_service:
        raise PermissionDenied("the dashboard and queries are an organization's: call them as one of its users")
    return caller.organization_id
