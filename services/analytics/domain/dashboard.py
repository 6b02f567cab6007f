"""The §3.5.1 dashboard from the stored counters, and the trends' signed percentages."""

from __future__ import annotations

from dataclasses import dataclass

from services.analytics.domain.facts import SEVERITIES, alert_counter, device_counter


@dataclass(frozen=True)
class Snapshot:
    """An organization's numbers at the end of a day (the last values written that day)."""

    day: str
    devices_online: int
    active_alerts: int


@dataclass(frozen=True)
class StoredNumbers:
    """Everything the dashboard needs, read from the store in one go."""

    counters: dict[str, int]
    volume_today: int
    volume_month: int
    baseline: Snapshot | None  # the latest snapshot of a day before today
    reconciled_at_ms: int | None


@dataclass(frozen=True)
class DeviceCounts:
    total: int
    online: int
    offline: int
    maintenance: int


@dataclass(frozen=True)
class AlertCounts:
    active: int
    critical: int
    warning: int
    info: int


@dataclass(frozen=True)
class DashboardStats:
    devices: DeviceCounts
    alerts: AlertCounts
    volume_today: int
    volume_month: int
    devices_online_trend: str
    active_alerts_trend: str


def devices_online(counters: dict[str, int]) -> int:
    return max(0, counters.get(device_counter("online"), 0))


def active_alerts(counters: dict[str, int]) -> int:
    return sum(max(0, counters.get(alert_counter(s), 0)) for s in SEVERITIES)


def dashboard(numbers: StoredNumbers) -> DashboardStats:
    """Registered devices that never connected count as offline, so online + offline + maintenance = total."""

    def count(name: str) -> int:
        return max(0, numbers.counters.get(name, 0))

    online = count(device_counter("online"))
    offline = count(device_counter("offline")) + count(device_counter("registered"))
    maintenance = count(device_counter("maintenance"))
    severities = {s: count(alert_counter(s)) for s in SEVERITIES}
    active = sum(severities.values())
    baseline = numbers.baseline
    return DashboardStats(
        devices=DeviceCounts(online + offline + maintenance, online, offline, maintenance),
        alerts=AlertCounts(active, severities["critical"], severities["warning"], severities["info"]),
        volume_today=numbers.volume_today,
        volume_month=numbers.volume_month,
        devices_online_trend=trend(online, baseline.devices_online if baseline else None),
        active_alerts_trend=trend(active, baseline.active_alerts if baseline else None),
    )


def trend(now: int, yesterday: int | None) -> str:
    """Change against yesterday as a signed percentage: "+2.5%", "-15%", "0%".

    One decimal, a trailing ".0" dropped, no sign on zero. No baseline (nothing known before today) is "0%";
    growth from zero is "+100%" (each new one is all new), as dashboards usually show it.
    """
    if yesterday is None or now == yesterday:
        return "0%"
    if yesterday == 0:
        return "+100%"
    percent = round((now - yesterday) * 100 / yesterday, 1)
    if percent == 0:
        return "0%"
    text = f"{abs(percent):.1f}".removesuffix(".0")
    return f"{'+' if percent > 0 else '-'}{text}%"
