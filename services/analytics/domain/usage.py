"""Monthly usage and its estimated cost (spec §6.4), the pure part.

What is counted, per organization and UTC month (docs/jobs.md):
- messages: readings stored (telemetry.readings_stored), one per device reading;
- data volume: bytes stored, 16 per datapoint (one metric of one reading), as the dashboard counts them;
- devices: distinct devices that sent at least one stored reading in the month (a device-month);
- API calls: REST calls the gateway answered for the organization's users (gateway.api_calls).
The estimated cost prices each with configurable rates (IOTMON_ANALYTICS_PRICE_*).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.analytics.domain.facts import DATAPOINT_BYTES, DayReadings, ReadingCount, count_days, day_of
from services.kernel.errors import Violations

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
GB = 1_000_000_000
MILLION = 1_000_000


@dataclass(frozen=True)
class Prices:
    per_gb: float
    per_million_messages: float
    per_device_month: float
    per_million_api_calls: float
    currency: str = "USD"


@dataclass(frozen=True)
class MonthUsage:
    organization_id: str
    month: str
    data_bytes: int = 0
    messages: int = 0
    devices: int = 0
    api_calls: int = 0


@dataclass(frozen=True)
class UsageReport:
    usage: MonthUsage
    estimated_cost: float
    currency: str
    created_at_ms: int

    @property
    def organization_id(self) -> str:
        return self.usage.organization_id

    @property
    def month(self) -> str:
        return self.usage.month


@dataclass(frozen=True)
class MonthReadings:
    """What one batch of readings adds to one month of an organization."""

    month: str
    messages: int
    data_bytes: int
    devices: frozenset[str]


def month_of(ms: int) -> str:
    return day_of(ms)[:7]


def previous_month(now_ms: int) -> str:
    year, month = (int(part) for part in month_of(now_ms).split("-"))
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def parse_month(value: str | None, default: str) -> str:
    """YYYY-MM (the default when absent or empty); ValidationFailed naming `month` otherwise."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    if not MONTH.match(text):
        v = Violations()
        v.add("month", "must be a month as YYYY-MM, e.g. 2025-09")
        v.raise_if_any()
    return text


def readings_by_month(readings: Iterable[ReadingCount]) -> list[MonthReadings]:
    """A batch of readings (which may straddle a month's end) per UTC month of the readings' times."""
    return months_of_days(count_days(readings))


def months_of_days(days: Iterable[DayReadings]) -> list[MonthReadings]:
    """Telemetry's per-day counts of one event per UTC month (a day's month is its first 7 characters)."""
    months: dict[str, tuple[int, int, set[str]]] = {}
    for counted in days:
        messages, data_bytes, devices = months.get(counted.day[:7], (0, 0, set()))
        devices.update(counted.device_ids)
        months[counted.day[:7]] = (
            messages + counted.readings,
            data_bytes + counted.datapoints * DATAPOINT_BYTES,
            devices,
        )
    return [MonthReadings(m, n, b, frozenset(d)) for m, (n, b, d) in sorted(months.items())]


def estimate_cost(usage: MonthUsage, prices: Prices) -> float:
    """Each quantity at its price, in the prices' currency, rounded to cents."""
    cost = (
        usage.data_bytes / GB * prices.per_gb
        + usage.messages / MILLION * prices.per_million_messages
        + usage.devices * prices.per_device_month
        + usage.api_calls / MILLION * prices.per_million_api_calls
    )
    return round(cost, 2)


def report_of(usage: MonthUsage, prices: Prices, created_at_ms: int) -> UsageReport:
    return UsageReport(usage, estimate_cost(usage, prices), prices.currency, created_at_ms)
