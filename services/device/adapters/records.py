"""Devices and changes as JSON documents: the stored form shared by the SQLite and DynamoDB repositories.

A device is two documents: this module's registration document, which users change now and then, and the
state document of state_records, which telemetry rewrites with every batch.

Keys are stable storage names (not the API's), so renaming a domain field does not break stored data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from services.device.adapters.state_records import state_from_json
from services.device.domain.listing import instant_key
from services.device.domain.model import (
    Connectivity,
    ConnectivityType,
    Device,
    DeviceChange,
    DeviceStatus,
    FieldChange,
    Location,
)


def _instant(value: datetime | None) -> str | None:
    return instant_key(value) if value is not None else None


def _parse_instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _required_instant(value: Any) -> datetime:
    if not value:
        raise ValueError("a stored record lacks a required timestamp")
    return datetime.fromisoformat(value)


def device_to_json(device: Device) -> bytes:
    """The registration document: everything but the state, which state_records stores on its own."""
    location = device.location
    connectivity = device.connectivity
    document = {
        "deviceId": device.device_id,
        "organizationId": device.organization_id,
        "name": device.name,
        "deviceType": device.device_type,
        "createdAt": _instant(device.created_at),
        "updatedAt": _instant(device.updated_at),
        "location": None
        if location is None
        else {"lat": location.lat, "lon": location.lon, "address": location.address},
        "connectivity": None
        if connectivity is None
        else {
            "type": connectivity.type.value,
            "simId": connectivity.sim_id,
            "signalStrength": connectivity.signal_strength,
            "ipAddress": connectivity.ip_address,
        },
        "metadata": dict(device.metadata),
        "tags": list(device.tags),
        "createdBy": device.created_by,
        "firmwareVersion": device.firmware_version,
        "firmwareInstalledAt": _instant(device.firmware_installed_at),
        "deletedAt": _instant(device.deleted_at),
        "certificateId": device.certificate_id,
        "certificateArn": device.certificate_arn,
    }
    return orjson.dumps(document)


def device_from_json(document: bytes | str, state: bytes | str | None) -> Device:
    """The device from its registration document and its state; a document stored before the state had its
    own (state None) holds both."""
    doc = orjson.loads(document)
    location, connectivity = doc.get("location"), doc.get("connectivity")
    device_id, organization_id = doc["deviceId"], doc["organizationId"]
    registration = Device(
        device_id=device_id,
        organization_id=organization_id,
        name=doc["name"],
        device_type=doc["deviceType"],
        status=DeviceStatus.REGISTERED,  # replaced by the state's
        created_at=_required_instant(doc["createdAt"]),
        updated_at=_required_instant(doc["updatedAt"]),
        location=None if location is None else Location(location["lat"], location["lon"], location.get("address")),
        connectivity=None
        if connectivity is None
        else Connectivity(
            ConnectivityType(connectivity["type"]),
            connectivity.get("simId"),
            connectivity.get("signalStrength"),
            connectivity.get("ipAddress"),
        ),
        metadata=dict(doc.get("metadata") or {}),
        tags=tuple(doc.get("tags") or ()),
        created_by=doc.get("createdBy"),
        firmware_version=doc.get("firmwareVersion"),
        firmware_installed_at=_parse_instant(doc.get("firmwareInstalledAt")),
        deleted_at=_parse_instant(doc.get("deletedAt")),
        certificate_id=doc.get("certificateId"),
        certificate_arn=doc.get("certificateArn"),
    )
    return registration.with_state(state_from_json(document if state is None else state, device_id, organization_id))


def change_to_json(change: DeviceChange) -> bytes:
    return orjson.dumps(
        {
            "changeId": change.change_id,
            "deviceId": change.device_id,
            "organizationId": change.organization_id,
            "changedAt": _instant(change.changed_at),
            "changedBy": change.changed_by,
            "changes": [{"field": c.field, "old": c.old_value, "new": c.new_value} for c in change.changes],
        }
    )


def change_from_json(raw: bytes | str) -> DeviceChange:
    doc = orjson.loads(raw)
    return DeviceChange(
        change_id=doc["changeId"],
        device_id=doc["deviceId"],
        organization_id=doc["organizationId"],
        changed_at=_required_instant(doc["changedAt"]),
        changed_by=doc["changedBy"],
        changes=tuple(FieldChange(c["field"], c["old"], c["new"]) for c in doc["changes"]),
    )
