"""Counter logic: which facts move which counters, idempotently and in any order."""

from __future__ import annotations

from services.analytics.domain.facts import (
    AlertFact,
    DeviceFact,
    ReadingCount,
    StoredAlert,
    StoredDevice,
    alert_deltas,
    count_days,
    device_deltas,
    volume_of_days,
)

T = 1_763_114_400_000  # 2025-11-14T10:00:00Z


def test_a_new_device_counts_under_its_status() -> None:
    assert device_deltas(None, DeviceFact("o", "d", "registered", T)) == {"device:registered": 1}


def test_a_status_change_moves_one_device_between_counters() -> None:
    stored = StoredDevice("registered", T)
    assert device_deltas(stored, DeviceFact("o", "d", "online", T + 1)) == {
        "device:registered": -1,
        "device:online": 1,
    }


def test_the_same_fact_twice_moves_nothing() -> None:
    assert device_deltas(StoredDevice("online", T), DeviceFact("o", "d", "online", T)) == {}


def test_an_older_fact_is_ignored() -> None:
    assert device_deltas(StoredDevice("offline", T), DeviceFact("o", "d", "online", T - 1)) is None


def test_deletion_uncounts_and_a_late_event_cannot_revive() -> None:
    assert device_deltas(StoredDevice("maintenance", T), DeviceFact("o", "d", "deleted", T + 5)) == {
        "device:maintenance": -1
    }
    assert device_deltas(StoredDevice("deleted", T + 5), DeviceFact("o", "d", "online", T + 1)) is None


def test_alerts_count_until_resolved_and_resolution_is_final() -> None:
    triggered = AlertFact("o", "a", "critical", True, T)
    resolved = AlertFact("o", "a", "critical", False, T + 10)
    assert alert_deltas(None, triggered) == {"alert:critical": 1}
    assert alert_deltas(StoredAlert("critical", True), triggered) is None
    assert alert_deltas(StoredAlert("critical", True), resolved) == {"alert:critical": -1}
    assert alert_deltas(StoredAlert("critical", False), resolved) is None
    assert alert_deltas(StoredAlert("critical", False), triggered) is None


def test_a_resolution_seen_before_its_trigger_counts_nothing() -> None:
    assert alert_deltas(None, AlertFact("o", "a", "warning", False, T)) == {}
    assert alert_deltas(StoredAlert("warning", False), AlertFact("o", "a", "warning", True, T - 1)) is None


def test_volume_is_16_bytes_per_datapoint_on_the_readings_utc_day() -> None:
    late_evening = T + 13 * 3_600_000 + 59 * 60_000  # 2025-11-14T23:59Z
    next_day = T + 14 * 3_600_000  # 2025-11-15T00:00Z
    readings = [ReadingCount("d1", T, 4), ReadingCount("d2", late_evening, 2), ReadingCount("d1", next_day, 1)]
    assert volume_of_days(count_days(readings)) == {"2025-11-14": 96, "2025-11-15": 16}
