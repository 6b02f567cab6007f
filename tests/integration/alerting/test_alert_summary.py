"""SummarizeAlerts' use case on every alerting store: alerts of the range (half-open) and devices asked, counted
by trigger day, device, severity and status, with resolution times; another organization's never; services
only."""

from __future__ import annotations

import pytest

from services.alerting.domain.alerts import AlertStatus
from services.alerting.domain.rules import Severity
from services.alerting.domain.summary import AlertSummaries, AlertTally
from services.alerting.ports import AlertingStore
from services.kernel.caller import Caller
from services.kernel.errors import PermissionDenied, ValidationFailed
from tests.unit.alerting.builders import a_caller, an_alert

DAY_MS = 86_400_000
D0 = 20_000 * DAY_MS  # 2024-10-04
SERVICE = Caller.service("analytics")


async def seed(store: AlertingStore) -> None:
    alerts = [
        an_alert(alert_id="a1", rule_id="r1", triggered_at_ms=D0 + 1000),
        an_alert(
            alert_id="a2",
            rule_id="r2",
            triggered_at_ms=D0 + 2000,
            status=AlertStatus.RESOLVED,
            resolved_at_ms=D0 + 62_000,
        ),
        an_alert(
            alert_id="a3",
            rule_id="r3",
            triggered_at_ms=D0 + 3000,
            status=AlertStatus.RESOLVED,
            resolved_at_ms=D0 + 33_000,
        ),
        an_alert(
            alert_id="a4",
            rule_id="r4",
            device_id="dev-2",
            device_name="Two",
            severity=Severity.CRITICAL,
            triggered_at_ms=D0 + DAY_MS + 5,
        ),
        an_alert(alert_id="a5", rule_id="r5", triggered_at_ms=D0 + 2 * DAY_MS),  # at the range's end: left out
        an_alert(alert_id="a6", rule_id="r6", organization_id="org-2", triggered_at_ms=D0 + 10),
    ]
    for alert in alerts:
        assert await store.add_alert_unless_open_or_cooling(alert, cooldown_since_ms=0)


async def test_alerts_of_the_range_are_tallied(store: AlertingStore) -> None:
    await seed(store)
    tallies = await AlertSummaries(store, page_size=2).summarize(SERVICE, "org-1", D0, D0 + 2 * DAY_MS)
    assert tallies == [
        AlertTally("2024-10-04", "dev-abc123", "Office-Temp-Sensor-1", "warning", "resolved", 2, 90.0),
        AlertTally("2024-10-04", "dev-abc123", "Office-Temp-Sensor-1", "warning", "triggered", 1, 0.0),
        AlertTally("2024-10-05", "dev-2", "Two", "critical", "triggered", 1, 0.0),
    ]


@pytest.mark.parametrize("devices", [("dev-2",), ("dev-2", "dev-unknown")])
async def test_devices_narrow_the_tallies(store: AlertingStore, devices: tuple[str, ...]) -> None:
    await seed(store)
    tallies = await AlertSummaries(store).summarize(SERVICE, "org-1", D0, D0 + 3 * DAY_MS, devices)
    assert [(t.device_id, t.count) for t in tallies] == [("dev-2", 1)]


async def test_only_services_and_valid_ranges(store: AlertingStore) -> None:
    summaries = AlertSummaries(store)
    with pytest.raises(PermissionDenied):
        await summaries.summarize(a_caller(), "org-1", D0, D0 + DAY_MS)
    with pytest.raises(ValidationFailed) as refused:
        await summaries.summarize(SERVICE, "", D0, D0)
    assert {v.field for v in refused.value.violations} == {"organizationId", "endTime"}
