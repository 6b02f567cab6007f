"""The /ws message formats: client actions parsed and bounded, events rendered as the contract says."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from iot.alerting.v1 import alerting_pb2
from iot.common.v1 import common_pb2
from iot.device.v1 import events_pb2 as device_events
from iot.telemetry.v1 import events_pb2 as telemetry_events

from gateway.ws import messages
from gateway.ws.messages import InvalidAction, Ping, Subscribe, Unsubscribe


def text_of(message: messages.Outgoing) -> dict[str, object]:
    assert message["type"] == "websocket.send"
    document: dict[str, object] = json.loads(message["text"])
    return document


def test_actions_are_parsed_with_duplicates_dropped_in_order() -> None:
    assert messages.parse_action('{"action":"ping"}', 10) == Ping()
    assert messages.parse_action(b'{"action":"subscribe","deviceIds":["b","a","b"]}', 10) == Subscribe(("b", "a"))
    assert messages.parse_action('{"action":"unsubscribe","deviceIds":["a"]}', 10) == Unsubscribe(("a",))


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("{", "JSON objects"),
        ("[1]", "JSON objects"),
        ('{"deviceIds":["a"]}', "unknown action None"),
        ('{"action":"SUBSCRIBE","deviceIds":["a"]}', "unknown action 'SUBSCRIBE'"),
        ('{"action":"subscribe"}', "non-empty list"),
        ('{"action":"subscribe","deviceIds":"dev-1"}', "non-empty list"),
        ('{"action":"subscribe","deviceIds":["a","b","c","d"]}', "at most 3"),
        ('{"action":"unsubscribe","deviceIds":[""]}', "1-128 characters"),
        ('{"action":"subscribe","deviceIds":[null]}', "1-128 characters"),
        ('{"action":"subscribe","deviceIds":["' + "x" * 129 + '"]}', "1-128 characters"),
        ('{"action":"ping","pad":"' + "x" * 256 * 1024 + '"}', "at most 256 KiB"),
    ],
)
def test_bad_actions_say_what_is_wrong(raw: str, complaint: str) -> None:
    with pytest.raises(InvalidAction) as refused:
        messages.parse_action(raw, 3)
    assert complaint in refused.value.message


def test_a_reading_carries_its_values_time_and_anomalies() -> None:
    reading = telemetry_events.Reading(device_id="dev-1", values={"temperature": 41.5}, anomalies=["temperature"])
    reading.timestamp.FromDatetime(datetime(2025, 11, 15, 10, 0, 0, 250_000, tzinfo=UTC))
    assert text_of(messages.reading(reading)) == {
        "type": "reading",
        "deviceId": "dev-1",
        "timestamp": "2025-11-15T10:00:00.250Z",
        "data": {"temperature": 41.5},
        "anomalies": ["temperature"],
    }


def test_a_status_change_is_timed_by_its_event() -> None:
    meta = common_pb2.EventMeta(organization_id="org-1")
    meta.occurred_at.FromDatetime(datetime(2025, 11, 15, 10, 5, tzinfo=UTC))
    event = device_events.DeviceStatusChanged(meta=meta, device_id="dev-1", status="offline", previous_status="online")
    assert text_of(messages.device_status(event)) == {
        "type": "deviceStatus",
        "deviceId": "dev-1",
        "status": "offline",
        "previousStatus": "online",
        "timestamp": "2025-11-15T10:05:00Z",
    }


def test_an_alert_names_its_rule_severity_and_status_and_an_unset_time_is_null() -> None:
    alert = alerting_pb2.Alert(
        alert_id="alert-1", rule_id="rule-1", device_id="dev-1", severity="critical", status="acknowledged"
    )
    rendered = text_of(messages.alert(alert))
    assert {k: rendered[k] for k in ("type", "alertId", "ruleId", "deviceId", "severity", "status")} == {
        "type": "alert",
        "alertId": "alert-1",
        "ruleId": "rule-1",
        "deviceId": "dev-1",
        "severity": "critical",
        "status": "acknowledged",
    }
    assert rendered["triggeredAt"] is None


def test_replies() -> None:
    assert text_of(messages.PONG) == {"type": "pong"}
    assert text_of(messages.subscribed(["a"], ["b"])) == {"type": "subscribed", "deviceIds": ["a"], "denied": ["b"]}
    assert text_of(messages.error("VALIDATION_ERROR", "no")) == {
        "type": "error",
        "code": "VALIDATION_ERROR",
        "message": "no",
    }
