"""The pure part of the archiving cleanup (§6.2): the cutoff, batches per organization and day of resolution,
their object keys, and the JSON Lines a batch becomes (merged, deterministic)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import orjson

from services.alerting.adapters.archive_jsonl import alert_line, encode, lines_by_id, merged
from services.alerting.domain.alerts import Alert, AlertStatus
from services.alerting.domain.archive import DAY_MS, archive_key, batches, cleanup_cutoff_ms, key_part
from tests.unit.alerting.builders import T0_MS, an_alert

DAY0 = T0_MS - T0_MS % DAY_MS  # midnight UTC of T0's day


def resolved(alert_id: str, org: str = "org-1", at_ms: int = DAY0 + 3_600_000) -> Alert:
    return an_alert(alert_id=alert_id, organization_id=org, status=AlertStatus.RESOLVED, resolved_at_ms=at_ms)


def test_the_cutoff_is_the_age_before_now() -> None:
    assert cleanup_cutoff_ms(100 * DAY_MS, 90) == 10 * DAY_MS
    assert cleanup_cutoff_ms(100 * DAY_MS, 0.5) == 100 * DAY_MS - DAY_MS // 2


def test_a_batch_splits_per_organization_and_day_of_resolution_keeping_the_order() -> None:
    alerts = [
        resolved("alert-1"),
        resolved("alert-2", org="org-2"),
        resolved("alert-3", at_ms=DAY0 + DAY_MS + 5),
        resolved("alert-4"),
        an_alert(alert_id="alert-open"),  # not resolved: never part of a batch
    ]
    parts = batches(alerts)
    day = datetime.fromtimestamp(DAY0 / 1000, UTC).strftime("%Y-%m-%d")
    assert [(p.organization_id, p.day, p.alert_ids) for p in parts][:2] == [
        ("org-1", day, ["alert-1", "alert-4"]),
        ("org-2", day, ["alert-2"]),
    ]
    assert parts[2].alert_ids == ["alert-3"]
    assert parts[2].day != day
    assert parts[0].key == f"archive/alerts/org_org-1/day_{day}/alerts_alert-1.jsonl"


def test_ids_an_object_key_cannot_hold_become_a_digest() -> None:
    assert key_part("org-1") == "org-1"
    odd = key_part("org/../1 é")
    assert odd.startswith("x")
    assert len(odd) == 33
    assert odd == key_part("org/../1 é")
    assert key_part("..") != ".."
    assert key_part("") != ""
    key = archive_key("a/b", "2025-01-01", "c d")
    assert key == f"archive/alerts/org_{key_part('a/b')}/day_2025-01-01/alerts_{key_part('c d')}.jsonl"


def test_lines_carry_the_alert_shape_and_merge_without_duplicates() -> None:
    first, second = resolved("alert-b"), resolved("alert-a", org="org-9")
    line = orjson.loads(alert_line(first))
    assert line["alertId"] == "alert-b"
    assert line["organizationId"] == "org-1"
    assert line["status"] == "resolved"
    assert line["resolvedAt"].endswith("Z")
    assert line["ruleName"] == first.rule_name
    data = encode(merged({}, [first, second]))
    assert data.count(b"\n") == 2
    assert data.index(b"alert-a") < data.index(b"alert-b")
    again = encode(merged(lines_by_id(data), [first, replace(second, resolution="changed")]))
    assert again == data  # an alert already in the file keeps its line: same bytes on a rerun
    assert lines_by_id(encode(merged(lines_by_id(data), [resolved("alert-c")]))).keys() == {
        "alert-a",
        "alert-b",
        "alert-c",
    }
