"""Devices and callers for tests, with sensible defaults and any field overridable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from services.device.domain.commands import ConnectivityInput, RegisterDevice
from services.device.domain.model import (
    Connectivity,
    ConnectivityType,
    Device,
    DeviceChange,
    DeviceStatus,
    FieldChange,
    Location,
)
from services.kernel.caller import Caller, Role
from services.kernel.ids import new_id

NOW = datetime(2025, 11, 15, 10, 0, tzinfo=UTC)


def make_device(**overrides: Any) -> Device:
    device = Device(
        device_id=new_id("dev"),
        organization_id="org-1",
        name="Office-Temp-Sensor-1",
        device_type="temperature-sensor-v2",
        status=DeviceStatus.REGISTERED,
        created_at=NOW,
        updated_at=NOW,
        location=Location(37.7749, -122.4194, "Office 301, Building A"),
        connectivity=Connectivity(ConnectivityType.CELLULAR, "sim-123456"),
        metadata={"manufacturer": "SensorCorp", "model": "TSv2-001"},
        tags=("office", "building-a"),
        created_by="user-1",
        certificate_id="cert-1",
        certificate_arn="arn:iotmon:iot:local:000000000000:cert/cert-1",
    )
    return replace(device, **overrides)


def make_change(device: Device, minutes: int, changed_by: str = "user-1") -> DeviceChange:
    return DeviceChange(
        change_id=new_id("chg"),
        device_id=device.device_id,
        organization_id=device.organization_id,
        changed_at=NOW + timedelta(minutes=minutes),
        changed_by=changed_by,
        changes=(FieldChange("name", "old", f"new-{minutes}"), FieldChange("tags", ["a"], ["a", "b"])),
    )


def registration(**overrides: Any) -> RegisterDevice:
    """The §3.1.1 example input."""
    command = RegisterDevice(
        device_type="temperature-sensor-v2",
        name="Office-Temp-Sensor-1",
        location=Location(37.7749, -122.4194, "Office 301, Building A"),
        connectivity=ConnectivityInput("cellular", "sim-123456"),
        metadata={"manufacturer": "SensorCorp", "model": "TSv2-001", "serialNumber": "SN123456789"},
        tags=["office", "building-a"],
    )
    return replace(command, **overrides)


def caller(role: Role = Role.OPERATOR, user: str = "user-1", org: str = "org-1") -> Caller:
    return Caller(user, org, role)
