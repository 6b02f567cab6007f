"""Updating a device (§3.1.4): which fields may change, who may change them, and what changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from services.device.domain.commands import UpdateDevice
from services.device.domain.errors import DeviceAccessDenied, InvalidDeviceData
from services.device.domain.health import HealthPolicy, with_status
from services.device.domain.model import (
    MANUAL_STATUSES,
    Device,
    DeviceStatus,
    FieldChange,
    JsonValue,
    Location,
)
from services.device.domain.validation import Violations, check_location, check_metadata, check_name, check_tags
from services.kernel.caller import Caller, Role

UPDATABLE_FIELDS = ("name", "location", "tags", "metadata", "status")


@dataclass(frozen=True)
class DevicePatch:
    """Validated new values; None means "leave as it is"."""

    name: str | None = None
    location: Location | None = None
    tags: tuple[str, ...] | None = None
    metadata: dict[str, str] | None = None
    status: DeviceStatus | None = None


def validate_patch(command: UpdateDevice) -> DevicePatch:
    given = [command.name, command.location, command.tags, command.metadata, command.status]
    if all(value is None for value in given):
        raise InvalidDeviceData(f"nothing to update: give at least one of {', '.join(UPDATABLE_FIELDS)}")
    problems = Violations()
    patch = DevicePatch(
        name=check_name(command.name, problems) if command.name is not None else None,
        location=check_location(command.location, problems) if command.location is not None else None,
        tags=check_tags(command.tags, problems) if command.tags is not None else None,
        metadata=check_metadata(command.metadata, problems) if command.metadata is not None else None,
        status=_manual_status(command.status, problems) if command.status is not None else None,
    )
    problems.raise_if_any()
    return patch


def _manual_status(value: str, problems: Violations) -> DeviceStatus | None:
    allowed = sorted(s.value for s in MANUAL_STATUSES)
    try:
        status = DeviceStatus(value.strip().lower())
    except ValueError:
        status = None
    if status not in MANUAL_STATUSES:
        problems.add("status", f"can only be set to {', '.join(allowed)}, got {value!r}")
        return None
    return status


def ensure_owner_or_admin(caller: Caller, device: Device) -> None:
    """Admins may change any device of their organization; operators only the ones they registered.

    The use case has already refused viewers (before validating input), so this only checks ownership.
    """
    if caller.role < Role.ADMIN and device.created_by != caller.user_id:
        raise DeviceAccessDenied(
            "only an admin or the operator who registered the device can update it",
            details={"deviceId": device.device_id},
        )


def apply_patch(device: Device, patch: DevicePatch, now: datetime, policy: HealthPolicy) -> Device:
    changed = replace(
        device,
        name=device.name if patch.name is None else patch.name,
        location=device.location if patch.location is None else patch.location,
        tags=device.tags if patch.tags is None else patch.tags,
        metadata=device.metadata if patch.metadata is None else patch.metadata,
    )
    if patch.status is not None:
        # Through the status log, so that a manual override counts in uptime like any other change.
        changed = with_status(changed, patch.status, now, policy)
    return replace(changed, updated_at=now) if field_changes(device, changed) else device


def field_changes(before: Device, after: Device) -> tuple[FieldChange, ...]:
    """Every updatable field whose value differs, with old and new value in their JSON shape."""
    old, new = _updatable_values(before), _updatable_values(after)
    return tuple(FieldChange(name, old[name], new[name]) for name in UPDATABLE_FIELDS if old[name] != new[name])


def _updatable_values(device: Device) -> Mapping[str, JsonValue]:
    return {
        "name": device.name,
        "location": device.location.as_json() if device.location else None,
        "tags": list(device.tags),
        "metadata": dict(device.metadata),
        "status": device.status.value,
    }
