"""A device's state (status, lastSeen, lastReading, heartbeat, activity log) as its own small JSON document.

It is rewritten with every telemetry batch of the device, so it is kept apart from the registration document.
Documents stored before the state had its own are the whole device; `state_from_json` reads those too, as
the keys and the form of their values are the same.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from services.device.domain.listing import instant_key
from services.device.domain.model import ActivityLog, DeviceState, DeviceStatus, Reading, ReadingCounts, StatusChange

# The instants of a state read back are mostly those of the last read (its hours, its status changes), and
# datetimes are immutable: parsing each once is cheaper than fromisoformat every time.
_instant = lru_cache(maxsize=16_384)(datetime.fromisoformat)


def _instant_or_none(value: Any) -> datetime | None:
    return None if value is None else _instant(value)


def _key_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else instant_key(moment)


def state_to_json(state: DeviceState, revision: int | None = None) -> bytes:
    """`revision` overrides the state's: a save stores the revision after the one it read."""
    reading = state.last_reading
    log = state.activity
    return orjson.dumps(
        {
            "status": state.status.value,
            "lastSeen": _key_or_none(state.last_seen),
            "lastReading": None
            if reading is None
            else {"values": reading.values, "at": instant_key(reading.timestamp)},
            "heartbeatAt": _key_or_none(state.heartbeat_at),
            "statusLog": [[instant_key(c.at), c.status.value] for c in log.status_changes],
            "readingCounts": [[instant_key(c.hour), c.accepted, c.rejected] for c in log.reading_counts],
            "revision": state.revision if revision is None else revision,
        }
    )


def state_from_json(raw: bytes | str, device_id: str, organization_id: str) -> DeviceState:
    doc = orjson.loads(raw)
    reading = doc.get("lastReading")
    return DeviceState(
        device_id=device_id,
        organization_id=organization_id,
        status=DeviceStatus(doc["status"]),
        last_seen=_instant_or_none(doc.get("lastSeen")),
        last_reading=None if reading is None else Reading(dict(reading["values"]), _instant(reading["at"])),
        heartbeat_at=_instant_or_none(doc.get("heartbeatAt")),
        activity=ActivityLog(
            status_changes=tuple(StatusChange(_instant(at), DeviceStatus(s)) for at, s in doc.get("statusLog", ())),
            reading_counts=tuple(
                ReadingCounts(_instant(hour), accepted, rejected)
                for hour, accepted, rejected in doc.get("readingCounts", ())
            ),
        ),
        revision=int(doc.get("revision") or 0),
    )
