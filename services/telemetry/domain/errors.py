"""The telemetry service's errors: each a type carrying the reason clients see (spec §8.2)."""

from __future__ import annotations

from services.kernel.errors import NotFound, ValidationFailed


class DeviceNotFound(NotFound):
    """No such device in the caller's organization (another organization's device is not found either)."""

    default_reason = "DEVICE_NOT_FOUND"

    def __init__(self, device_id: str):
        super().__init__(f"Device with ID '{device_id}' not found", details={"deviceId": device_id})
        self.device_id = device_id


class InvalidJson(ValidationFailed):
    """The request body as a whole is not the JSON document the endpoint takes."""

    default_reason = "INVALID_JSON"


class DeviceTypeNotFound(NotFound):
    """No device type of that name: neither built in nor declared in the device-types file."""

    default_reason = "DEVICE_TYPE_NOT_FOUND"

    def __init__(self, name: str):
        super().__init__(f"Device type '{name}' not found", details={"deviceType": name})
