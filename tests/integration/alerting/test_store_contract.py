"""One contract for every AlertingStore: memory, SQLite and PostgreSQL (parametrized in conftest.py)."""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import replace

from services.alerting.domain.alerts import AlertStatus, Comment, UserRef
from services.alerting.domain.listing import AlertFilter, RuleFilter
from services.alerting.domain.rules import (
    Combine,
    Condition,
    ConditionKind,
    Operator,
    Schedule,
    ScheduleType,
    Severity,
)
from services.alerting.ports import AlertingStore
from services.kernel.pagination import PageRequest
from tests.unit.alerting.builders import T0_MS, a_rule, an_alert

MINUTE = 60_000


async def test_a_rule_round_trips_with_every_field(store: AlertingStore) -> None:
    rule = a_rule(
        device_ids=frozenset({"dev-1", "dev-2"}),
        conditions=(
            Condition("temperature", Operator.GE, 40.5, 300),
            Condition("humidity", Operator.LT, 10, 0, ConditionKind.RATE),
            Condition("co2", Operator.GT, 0, 600, ConditionKind.NO_DATA),
        ),
        combine=Combine.ANY,
        webhooks=("https://hooks.example.com/a",),
        schedule=Schedule(
            ScheduleType.CUSTOM, frozenset({0, 4}), datetime.time(22), datetime.time(6, 30), "Europe/Paris"
        ),
    )
    await store.add_rule(rule)
    assert await store.get_rule("org-1", rule.rule_id) == rule
    assert await store.get_rule("org-2", rule.rule_id) is None


async def test_saved_rules_replace_and_deleted_ones_leave_lists_and_evaluation(store: AlertingStore) -> None:
    kept, disabled, deleted = a_rule(rule_id="rule-a"), a_rule(rule_id="rule-b"), a_rule(rule_id="rule-c")
    for rule in (kept, disabled, deleted):
        await store.add_rule(rule)
    await store.save_rule(replace(disabled, enabled=False, name="Renamed"))
    await store.save_rule(replace(deleted, deleted_at_ms=T0_MS + 1))
    assert (await store.get_rule("org-1", "rule-b")) == replace(disabled, enabled=False, name="Renamed")
    assert (await store.get_rule("org-1", "rule-c")) == replace(deleted, deleted_at_ms=T0_MS + 1)
    listed = await store.list_rules("org-1", RuleFilter(), PageRequest())
    assert sorted(r.rule_id for r in listed.items) == ["rule-a", "rule-b"]
    assert [r.rule_id for r in await store.enabled_rules()] == ["rule-a"]
    only_enabled = await store.list_rules("org-1", RuleFilter(enabled=False), PageRequest())
    assert [r.rule_id for r in only_enabled.items] == ["rule-b"]


async def test_rules_list_newest_first_with_filters_and_pages(store: AlertingStore) -> None:
    for i in range(5):
        await store.add_rule(
            a_rule(
                rule_id=f"rule-{i}",
                created_at_ms=T0_MS + i,
                device_type="pump-v1" if i % 2 else "temperature-sensor-v2",
                severity=Severity.CRITICAL if i == 4 else Severity.WARNING,
            )
        )
    await store.add_rule(a_rule(rule_id="rule-other", organization_id="org-2"))
    first = await store.list_rules("org-1", RuleFilter(), PageRequest(1, 2))
    assert [r.rule_id for r in first.items] == ["rule-4", "rule-3"]
    assert (first.total_items, first.total_pages, first.has_next) == (5, 3, True)
    pumps = await store.list_rules("org-1", RuleFilter(device_type="pump-v1"), PageRequest())
    assert [r.rule_id for r in pumps.items] == ["rule-3", "rule-1"]
    critical = await store.list_rules("org-1", RuleFilter(severity=Severity.CRITICAL), PageRequest())
    assert [r.rule_id for r in critical.items] == ["rule-4"]


async def test_an_alert_round_trips_with_people_comments_and_notes(store: AlertingStore) -> None:
    alert = an_alert(
        status=AlertStatus.RESOLVED,
        acknowledged_at_ms=T0_MS + MINUTE,
        acknowledged_by=UserRef("user-456", "John Doe"),
        resolved_at_ms=T0_MS + 2 * MINUTE,
        resolved_by=UserRef("user-789", "Jane Roe"),
        resolution="HVAC system adjusted",
        prevention_notes="Schedule regular HVAC maintenance",
        notifications_sent=("email",),
        comments=(Comment("user-456", "Checking HVAC system", T0_MS + MINUTE),),
    )
    assert await store.add_alert_unless_open_or_cooling(alert, T0_MS - MINUTE)
    assert await store.get_alert("org-1", alert.alert_id) == alert
    assert await store.get_alert("org-2", alert.alert_id) is None


async def test_a_second_open_alert_of_a_rule_and_device_is_refused(store: AlertingStore) -> None:
    first = an_alert(alert_id="alert-1")
    assert await store.add_alert_unless_open_or_cooling(first, T0_MS)
    later = an_alert(alert_id="alert-2", triggered_at_ms=T0_MS + 60 * MINUTE)
    assert not await store.add_alert_unless_open_or_cooling(later, T0_MS + 45 * MINUTE)
    other_device = an_alert(alert_id="alert-3", device_id="dev-other")
    assert await store.add_alert_unless_open_or_cooling(other_device, T0_MS)
    assert await store.get_alert("org-1", "alert-2") is None


async def test_after_resolution_the_cooldown_decides(store: AlertingStore) -> None:
    first = an_alert(alert_id="alert-1")
    assert await store.add_alert_unless_open_or_cooling(first, T0_MS - MINUTE)
    resolved = replace(first, status=AlertStatus.RESOLVED, resolved_at_ms=T0_MS + MINUTE)
    assert await store.save_alert(resolved, expected_status=AlertStatus.TRIGGERED)
    # 10 minutes later with a 15-minute cooldown: the last alert (at T0) is inside it.
    inside = an_alert(alert_id="alert-2", triggered_at_ms=T0_MS + 10 * MINUTE)
    assert not await store.add_alert_unless_open_or_cooling(inside, T0_MS + 10 * MINUTE - 15 * MINUTE)
    outside = an_alert(alert_id="alert-3", triggered_at_ms=T0_MS + 20 * MINUTE)
    assert await store.add_alert_unless_open_or_cooling(outside, T0_MS + 20 * MINUTE - 15 * MINUTE)


async def test_concurrent_raises_store_one_alert(store: AlertingStore) -> None:
    candidates = [an_alert(alert_id=f"alert-{i}") for i in range(8)]
    results = await asyncio.gather(*(store.add_alert_unless_open_or_cooling(a, T0_MS) for a in candidates))
    assert sum(results) == 1
    assert await store.count_open("dev-abc123") == 1


async def test_save_alert_only_from_the_expected_status_and_keeps_notifications(store: AlertingStore) -> None:
    alert = an_alert()
    await store.add_alert_unless_open_or_cooling(alert, T0_MS)
    await store.add_notification_sent(alert.alert_id, "email")
    acknowledged = replace(
        alert,
        status=AlertStatus.ACKNOWLEDGED,
        acknowledged_at_ms=T0_MS + MINUTE,
        acknowledged_by=UserRef("user-456", "John Doe"),
        comments=(Comment("user-456", "on it", T0_MS + MINUTE),),
    )
    assert await store.save_alert(acknowledged, expected_status=AlertStatus.TRIGGERED)
    assert not await store.save_alert(acknowledged, expected_status=AlertStatus.TRIGGERED)
    stored = await store.get_alert("org-1", alert.alert_id)
    assert stored == replace(acknowledged, notifications_sent=("email",))


async def test_notifications_sent_are_added_once_per_channel(store: AlertingStore) -> None:
    alert = an_alert()
    await store.add_alert_unless_open_or_cooling(alert, T0_MS)
    for channel in ("email", "push", "email", "push", "sms"):
        await store.add_notification_sent(alert.alert_id, channel)
    await store.add_notification_sent("alert-missing", "email")
    stored = await store.get_alert("org-1", alert.alert_id)
    assert stored is not None
    assert stored.notifications_sent == ("email", "push", "sms")


async def add_alerts(store: AlertingStore) -> None:
    rows = [
        ("alert-1", "dev-1", Severity.WARNING, AlertStatus.TRIGGERED, 0),
        ("alert-2", "dev-2", Severity.CRITICAL, AlertStatus.ACKNOWLEDGED, 1),
        ("alert-3", "dev-1", Severity.CRITICAL, AlertStatus.RESOLVED, 2),
        ("alert-4", "dev-3", Severity.INFO, AlertStatus.TRIGGERED, 3),
    ]
    for alert_id, device, severity, status, minute in rows:
        alert = an_alert(
            alert_id=alert_id,
            rule_id=f"rule-{alert_id}",
            device_id=device,
            severity=severity,
            triggered_at_ms=T0_MS + minute * MINUTE,
        )
        assert await store.add_alert_unless_open_or_cooling(alert, 0)
        if status is not AlertStatus.TRIGGERED:
            assert await store.save_alert(replace(alert, status=status), expected_status=AlertStatus.TRIGGERED)
    other = an_alert(alert_id="alert-other", organization_id="org-2", device_id="dev-1")
    assert await store.add_alert_unless_open_or_cooling(other, 0)


async def test_alerts_list_newest_first_and_filter(store: AlertingStore) -> None:
    await add_alerts(store)

    async def ids(query: AlertFilter, page: PageRequest | None = None) -> list[str]:
        return [a.alert_id for a in (await store.list_alerts("org-1", query, page or PageRequest())).items]

    assert await ids(AlertFilter()) == ["alert-4", "alert-3", "alert-2", "alert-1"]
    assert await ids(AlertFilter(status=AlertStatus.TRIGGERED)) == ["alert-4", "alert-1"]
    assert await ids(AlertFilter(severity=Severity.CRITICAL)) == ["alert-3", "alert-2"]
    assert await ids(AlertFilter(device_id="dev-1")) == ["alert-3", "alert-1"]
    assert await ids(AlertFilter(start_ms=T0_MS + MINUTE, end_ms=T0_MS + 2 * MINUTE)) == ["alert-3", "alert-2"]
    assert await ids(AlertFilter(), PageRequest(2, 3)) == ["alert-1"]
    page = await store.list_alerts("org-1", AlertFilter(), PageRequest(1, 3))
    assert (page.total_items, page.total_pages, page.has_next, page.has_previous) == (4, 2, True, False)


async def test_open_alerts_of_a_rule_and_of_a_device(store: AlertingStore) -> None:
    for i, device in enumerate(["dev-1", "dev-2", "dev-3", "dev-4"]):
        alert = an_alert(alert_id=f"alert-{i}", device_id=device, triggered_at_ms=T0_MS + i * MINUTE)
        assert await store.add_alert_unless_open_or_cooling(alert, 0)
    resolved = an_alert(alert_id="alert-3", device_id="dev-4", triggered_at_ms=T0_MS + 3 * MINUTE)
    assert await store.save_alert(replace(resolved, status=AlertStatus.RESOLVED), expected_status=AlertStatus.TRIGGERED)
    related = await store.open_alerts_of_rule("org-1", "rule-temp-high", excluding="alert-0", limit=10)
    assert [a.alert_id for a in related] == ["alert-2", "alert-1"]
    assert len(await store.open_alerts_of_rule("org-1", "rule-temp-high", excluding="alert-0", limit=1)) == 1
    assert await store.open_alerts_of_rule("org-2", "rule-temp-high", excluding="", limit=10) == []
    assert (await store.count_open("dev-1"), await store.count_open("dev-4"), await store.count_open("x")) == (1, 0, 0)


async def test_old_resolved_alerts_are_deleted_in_batches(store: AlertingStore) -> None:
    for i in range(5):
        alert = an_alert(alert_id=f"alert-{i}", device_id=f"dev-{i}")
        assert await store.add_alert_unless_open_or_cooling(alert, 0)
        status = AlertStatus.RESOLVED if i < 4 else AlertStatus.ACKNOWLEDGED
        resolved_at = T0_MS + (i if i < 3 else 100) * MINUTE if i < 4 else None
        changed = replace(alert, status=status, resolved_at_ms=resolved_at)
        assert await store.save_alert(changed, expected_status=AlertStatus.TRIGGERED)
    cutoff = T0_MS + 50 * MINUTE
    assert await store.delete_resolved_before(cutoff, 2) == 2
    assert await store.delete_resolved_before(cutoff, 2) == 1
    assert await store.delete_resolved_before(cutoff, 2) == 0
    remaining = await store.list_alerts("org-1", AlertFilter(), PageRequest())
    assert sorted(a.alert_id for a in remaining.items) == ["alert-3", "alert-4"]


async def test_resolved_alerts_are_selected_oldest_first_and_deleted_exactly(store: AlertingStore) -> None:
    resolved_at = {"alert-a": 30, "alert-b": 10, "alert-c": 10, "alert-d": 90}  # minutes after T0
    for i, (alert_id, minutes) in enumerate(resolved_at.items()):
        alert = an_alert(alert_id=alert_id, device_id=f"dev-{i}", organization_id=f"org-{i % 2 + 1}")
        assert await store.add_alert_unless_open_or_cooling(alert, 0)
        done = replace(alert, status=AlertStatus.RESOLVED, resolved_at_ms=T0_MS + minutes * MINUTE)
        assert await store.save_alert(done, expected_status=AlertStatus.TRIGGERED)
    still_open = an_alert(alert_id="alert-open", device_id="dev-9")
    assert await store.add_alert_unless_open_or_cooling(still_open, 0)
    cutoff = T0_MS + 60 * MINUTE
    # Every organization, oldest resolution first, ties by id; the open alert and alert-d are not due.
    assert [a.alert_id for a in await store.resolved_before(cutoff, 10)] == ["alert-b", "alert-c", "alert-a"]
    first = await store.resolved_before(cutoff, 2)
    assert [a.alert_id for a in first] == ["alert-b", "alert-c"]
    assert first[0].organization_id == "org-2"
    assert first[0].resolved_at_ms == T0_MS + 10 * MINUTE
    # Exactly the named ones go, and only while resolved: the open alert and unknown ids are left alone.
    assert await store.delete_resolved(["alert-b", "alert-c", "alert-open", "alert-missing"]) == 2
    assert [a.alert_id for a in await store.resolved_before(cutoff, 10)] == ["alert-a"]
    assert await store.get_alert("org-1", "alert-open") is not None
    assert await store.get_alert("org-1", "alert-d") is None
    assert await store.get_alert("org-2", "alert-d") is not None
    assert await store.delete_resolved(["alert-b"]) == 0
    assert await store.delete_resolved([]) == 0
