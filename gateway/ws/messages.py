"""What travels on /ws: the client's actions in, the hub's JSON messages out (docs/websocket.md).

Outgoing messages are ASGI `websocket.send` dicts holding text that was encoded once (orjson): the hub
hands the same dict to every connection that should get it, and uvicorn only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp
from iot.alerting.v1 import alerting_pb2
from iot.device.v1 import events_pb2 as device_events
from iot.telemetry.v1 import events_pb2 as telemetry_events

Outgoing = dict[str, Any]

MAX_DEVICE_ID_LENGTH = 128
MAX_ACTION_BYTES = 256 * 1024  # room for 1,000 of the longest ids; uvicorn alone would take 16 MiB


@dataclass(frozen=True, slots=True)
class Subscribe:
    device_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    device_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Action = Subscribe | Unsubscribe | Ping


class InvalidAction(Exception):
    """The client's message cannot be acted on; the connection stays open and gets an error message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_action(raw: str | bytes, max_device_ids: int) -> Action:
    if len(raw) > MAX_ACTION_BYTES:
        raise InvalidAction(f"messages must be at most {MAX_ACTION_BYTES // 1024} KiB")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidAction("messages must be JSON objects") from None
    if not isinstance(document, dict):
        raise InvalidAction("messages must be JSON objects")
    action = document.get("action")
    if action == "ping":
        return Ping()
    if action == "subscribe":
        return Subscribe(_device_ids(document, max_device_ids))
    if action == "unsubscribe":
        return Unsubscribe(_device_ids(document, max_device_ids))
    raise InvalidAction(f"unknown action {action!r}: expected subscribe, unsubscribe or ping")


def _device_ids(document: dict[str, Any], max_device_ids: int) -> tuple[str, ...]:
    ids = document.get("deviceIds")
    if not isinstance(ids, list) or not ids:
        raise InvalidAction("deviceIds must be a non-empty list of device ids")
    if len(ids) > max_device_ids:
        raise InvalidAction(f"deviceIds may name at most {max_device_ids} devices")
    for device_id in ids:
        if not isinstance(device_id, str) or not 0 < len(device_id) <= MAX_DEVICE_ID_LENGTH:
            raise InvalidAction(f"each device id must be a string of 1-{MAX_DEVICE_ID_LENGTH} characters")
    return tuple(dict.fromkeys(ids))  # duplicates dropped, order kept


def outgoing(payload: dict[str, Any]) -> Outgoing:
    return {"type": "websocket.send", "text": orjson.dumps(payload).decode()}


PONG = outgoing({"type": "pong"})


def subscribed(granted: list[str], denied: list[str]) -> Outgoing:
    return outgoing({"type": "subscribed", "deviceIds": granted, "denied": denied})


def unsubscribed(device_ids: tuple[str, ...]) -> Outgoing:
    return outgoing({"type": "unsubscribed", "deviceIds": list(device_ids)})


def error(code: str, message: str) -> Outgoing:
    return outgoing({"type": "error", "code": code, "message": message})


def reading(reading: telemetry_events.Reading) -> Outgoing:
    return outgoing(
        {
            "type": "reading",
            "deviceId": reading.device_id,
            "timestamp": _iso(reading.timestamp),
            "data": dict(reading.values),
            "anomalies": list(reading.anomalies),
        }
    )


def device_status(event: device_events.DeviceStatusChanged) -> Outgoing:
    return outgoing(
        {
            "type": "deviceStatus",
            "deviceId": event.device_id,
            "status": event.status,
            "previousStatus": event.previous_status,
            "timestamp": _iso(event.meta.occurred_at),
        }
    )


def alert(alert: alerting_pb2.Alert) -> Outgoing:
    return outgoing(
        {
            "type": "alert",
            "deviceId": alert.device_id,
            "deviceName": alert.device_name,
            "alertId": alert.alert_id,
            "ruleId": alert.rule_id,
            "ruleName": alert.rule_name,
            "severity": alert.severity,
            "status": alert.status,
            "condition": alert.condition,
            "actualValue": alert.actual_value,
            "threshold": alert.threshold,
            "triggeredAt": _iso(alert.triggered_at),
        }
    )


def deployment(rendered: dict[str, Any]) -> Outgoing:
    """A deployment as GET /firmware/deployments/{id} renders it (the hub renders; this only wraps it)."""
    return outgoing({"type": "deployment", "deployment": rendered})


def _iso(timestamp: Timestamp) -> str | None:
    """RFC 3339 in UTC with a Z (what the REST API prints); None when the event left it unset."""
    if not timestamp.seconds and not timestamp.nanos:
        return None
    return timestamp.ToJsonString()
