"""Domain values ↔ iot.device.v1 messages, shared by the two edges that speak the contract:
the gRPC servicer (requests and responses) and the bus adapter (events carry the same Device message).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from iot.device.v1 import device_pb2

from services.device.domain.commands import ConnectivityInput
from services.device.domain.health import Health
from services.device.domain.model import (
    Connectivity,
    Device,
    DeviceChange,
    JsonValue,
    Location,
    ProvisionedCredentials,
    Reading,
)

READING_TIME_KEY = "timestamp"


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message


def to_value(value: JsonValue) -> struct_pb2.Value:
    return to_struct({"value": value}).fields["value"]


def to_struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def location_to_proto(location: Location) -> device_pb2.Location:
    return device_pb2.Location(lat=location.lat, lon=location.lon, address=location.address)


def location_from_proto(message: device_pb2.Location) -> Location:
    # A coordinate left out is NaN here, so validation can say it is required instead of reading 0.
    lat = message.lat if message.HasField("lat") else math.nan
    lon = message.lon if message.HasField("lon") else math.nan
    return Location(lat, lon, message.address if message.HasField("address") else None)


def connectivity_to_proto(connectivity: Connectivity) -> device_pb2.Connectivity:
    return device_pb2.Connectivity(
        type=connectivity.type.value,
        sim_id=connectivity.sim_id,
        signal_strength=connectivity.signal_strength,
        ip_address=connectivity.ip_address,
    )


def connectivity_from_proto(message: device_pb2.Connectivity) -> ConnectivityInput:
    return ConnectivityInput(
        type=message.type,
        sim_id=message.sim_id if message.HasField("sim_id") else None,
        signal_strength=message.signal_strength if message.HasField("signal_strength") else None,
        ip_address=message.ip_address if message.HasField("ip_address") else None,
    )


def reading_to_struct(reading: Reading) -> struct_pb2.Struct:
    """§3.1.2 lastReading: each metric's value plus the reading's "timestamp"."""
    return to_struct({**reading.values, READING_TIME_KEY: timestamp(reading.timestamp).ToJsonString()})


def health_to_proto(health: Health) -> device_pb2.Health:
    return device_pb2.Health(uptime=health.uptime, data_quality=health.data_quality)


def device_to_proto(device: Device, health: Health | None = None) -> device_pb2.Device:
    """Absent values stay unset (None), so that JSON leaves them out instead of printing empty ones."""
    location, connectivity, reading = device.location, device.connectivity, device.last_reading
    return device_pb2.Device(
        device_id=device.device_id,
        name=device.name,
        type=device.device_type,
        status=device.status.value,
        tags=list(device.tags),
        metadata=dict(device.metadata),
        organization_id=device.organization_id,
        created_at=timestamp(device.created_at),
        updated_at=timestamp(device.updated_at),
        firmware_version=device.firmware_version,
        created_by=device.created_by,
        location=location_to_proto(location) if location is not None else None,
        connectivity=connectivity_to_proto(connectivity) if connectivity is not None else None,
        last_seen=timestamp(device.last_seen) if device.last_seen is not None else None,
        last_reading=reading_to_struct(reading) if reading is not None else None,
        health=health_to_proto(health) if health is not None else None,
    )


def change_to_proto(change: DeviceChange) -> device_pb2.DeviceChange:
    return device_pb2.DeviceChange(
        change_id=change.change_id,
        device_id=change.device_id,
        changed_at=timestamp(change.changed_at),
        changed_by=change.changed_by,
        changes=[
            device_pb2.FieldChange(field=c.field, old_value=to_value(c.old_value), new_value=to_value(c.new_value))
            for c in change.changes
        ],
    )


def credentials_to_proto(credentials: ProvisionedCredentials) -> device_pb2.ProvisioningCredentials:
    return device_pb2.ProvisioningCredentials(
        certificate_arn=credentials.certificate_arn,
        certificate_pem=credentials.certificate_pem,
        private_key=credentials.private_key,
        endpoint=credentials.endpoint,
        ca_certificate_pem=credentials.ca_certificate_pem,
    )
