"""Archived alerts as JSON Lines: one alert per line in its §3.2.2 JSON shape (plus organizationId), sorted by
alert id, so the same alerts always make the same bytes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson
from google.protobuf import json_format

from services.alerting.domain.alerts import Alert
from services.alerting.messages import alert_to_proto

CONTENT_TYPE = "application/x-ndjson"
ID_FIELD = "alertId"


def alert_line(alert: Alert) -> bytes:
    document = json_format.MessageToDict(alert_to_proto(alert))
    document["organizationId"] = alert.organization_id
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def lines_by_id(data: bytes) -> dict[str, bytes]:
    """The alerts of a file, each line by its alert id."""
    found: dict[str, bytes] = {}
    for line in data.splitlines():
        if line.strip():
            found[str(orjson.loads(line)[ID_FIELD])] = line
    return found


def merged(existing: Mapping[str, bytes], alerts: Iterable[Alert]) -> dict[str, bytes]:
    """The file's alerts with these added (an alert already there keeps its line: resolution is final)."""
    lines = dict(existing)
    for alert in alerts:
        lines.setdefault(alert.alert_id, alert_line(alert))
    return lines


def encode(lines: Mapping[str, bytes]) -> bytes:
    return b"".join(lines[alert_id] + b"\n" for alert_id in sorted(lines))
