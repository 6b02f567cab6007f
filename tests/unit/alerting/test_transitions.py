"""An alert's life: triggered → acknowledged → resolved; every other move is a 409 with its reason."""

from __future__ import annotations

import pytest

from services.alerting.domain.alerts import AlertStatus, Comment, UserRef
from services.alerting.domain.errors import AlertAlreadyAcknowledged, AlertAlreadyResolved, AlertNotAcknowledged
from services.alerting.domain.transitions import acknowledge, resolve
from services.kernel.errors import ErrorKind
from tests.unit.alerting.builders import T0_MS, an_alert

JOHN = UserRef("user-456", "John Doe")


def test_acknowledging_records_who_when_and_the_comment() -> None:
    acknowledged = acknowledge(an_alert(), JOHN, "Checking HVAC system", T0_MS + 300_000)
    assert acknowledged.status is AlertStatus.ACKNOWLEDGED
    assert (acknowledged.acknowledged_by, acknowledged.acknowledged_at_ms) == (JOHN, T0_MS + 300_000)
    assert acknowledged.comments == (Comment("user-456", "Checking HVAC system", T0_MS + 300_000),)
    assert acknowledge(an_alert(), JOHN, None, T0_MS).comments == ()


def test_acknowledging_twice_or_after_resolution_is_a_conflict() -> None:
    acknowledged = acknowledge(an_alert(), JOHN, None, T0_MS)
    with pytest.raises(AlertAlreadyAcknowledged) as twice:
        acknowledge(acknowledged, JOHN, None, T0_MS)
    assert (twice.value.kind, twice.value.reason) == (ErrorKind.CONFLICT, "ALERT_ALREADY_ACKNOWLEDGED")
    resolved = resolve(acknowledged, JOHN, "fixed", None, T0_MS)
    with pytest.raises(AlertAlreadyResolved):
        acknowledge(resolved, JOHN, None, T0_MS)


def test_resolving_needs_an_acknowledged_alert() -> None:
    with pytest.raises(AlertNotAcknowledged) as early:
        resolve(an_alert(), JOHN, "fixed", None, T0_MS)
    assert early.value.reason == "ALERT_NOT_ACKNOWLEDGED"
    assert early.value.details == {"alertId": "alert-123", "status": "triggered"}
    resolved = resolve(acknowledge(an_alert(), JOHN, None, T0_MS), JOHN, "HVAC adjusted", "Maintain", T0_MS + 1)
    assert resolved.status is AlertStatus.RESOLVED
    assert (resolved.resolution, resolved.prevention_notes, resolved.resolved_at_ms) == (
        "HVAC adjusted",
        "Maintain",
        T0_MS + 1,
    )
    with pytest.raises(AlertAlreadyResolved) as again:
        resolve(resolved, JOHN, "again", None, T0_MS)
    assert again.value.reason == "ALERT_ALREADY_RESOLVED"
