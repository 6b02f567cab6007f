"""The outside things the analytics use cases need, one Protocol each; adapters/ implements them."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from services.analytics.domain.dashboard import StoredNumbers
from services.analytics.domain.facts import AlertFact, DeviceFact
from services.analytics.domain.query import QueryPlan, SeriesData


class CounterStore(Protocol):
    """Per-organization counters kept from events: devices by status, active alerts by severity, bytes per day,
    and a daily snapshot of devices online and active alerts (the trends' baseline)."""

    async def apply_devices(self, facts: Sequence[DeviceFact], day: str) -> None:
        """Record each fact unless an newer one is stored, adjusting the counters and the snapshot of `day`,
        atomically (a fact applied twice changes nothing)."""
        ...

    async def apply_alerts(self, facts: Sequence[AlertFact], day: str) -> None:
        """As apply_devices: an alert counts from its first active fact until its first inactive one."""
        ...

    async def live_device_ids(self, organization_id: str) -> set[str]:
        """Devices of the organization stored with a status other than deleted."""
        ...

    async def active_alert_ids(self, organization_id: str) -> set[str]: ...

    async def add_volume(self, event_id: str, organization_id: str, bytes_by_day: Mapping[str, int]) -> bool:
        """Add bytes per day once per event id (False: the event was counted before)."""
        ...

    async def set_volume(self, organization_id: str, bytes_by_day: Mapping[str, int]) -> None:
        """Overwrite these days' bytes (reconciliation from the time-series store)."""
        ...

    async def numbers(self, organization_id: str, today: str) -> StoredNumbers:
        """Counters, today's and this month's bytes, the baseline snapshot and the last reconciliation."""
        ...

    async def mark_reconciled(self, organization_id: str, at_ms: int) -> None: ...

    async def forget_events_before(self, at_ms: int) -> int:
        """Drop remembered event ids older than `at_ms` (redeliveries come within minutes); how many."""
        ...

    async def close(self) -> None: ...


class DeviceCensus(Protocol):
    """The device service's view of an organization's devices."""

    async def counts(self, organization_id: str) -> dict[str, int]:
        """Live devices per status (registered, online, offline, maintenance)."""
        ...

    async def statuses(self, organization_id: str) -> dict[str, str]:
        """Every live device's status by id (a full listing: only when the counts disagree)."""
        ...


class AlertCensus(Protocol):
    """The alerting service's view of an organization's alerts that are not resolved."""

    async def counts(self, organization_id: str) -> dict[str, int]:
        """Active (triggered or acknowledged) alerts per severity."""
        ...

    async def active(self, organization_id: str) -> dict[str, str]:
        """Every active alert's severity by id (a full listing: only when the counts disagree)."""
        ...


class DatapointCounts(Protocol):
    async def daily(self, organization_id: str, start_ms: int, end_ms: int) -> dict[str, int]:
        """Datapoints stored per UTC day (YYYY-MM-DD) in [start_ms, end_ms)."""
        ...


class DeviceOwnership(Protocol):
    async def owned(self, organization_id: str, device_ids: Collection[str]) -> set[str]:
        """Those of `device_ids` that are live devices of the organization."""
        ...


class SeriesSource(Protocol):
    async def aggregate(self, organization_id: str, plan: QueryPlan) -> list[SeriesData]:
        """Bucketed aggregates computed by the time-series store; series without data may be absent."""
        ...
