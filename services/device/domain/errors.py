"""The device service's errors: each one a type with the reason clients see (spec §8.2)."""

from __future__ import annotations

from services.kernel.errors import AlreadyExists, Conflict, NotFound, PermissionDenied, ValidationFailed


class DeviceNotFound(NotFound):
    default_reason = "DEVICE_NOT_FOUND"

    def __init__(self, device_id: str):
        super().__init__(f"Device with ID '{device_id}' not found", details={"deviceId": device_id})
        self.device_id = device_id


class DeviceAlreadyExists(AlreadyExists):
    """Another live device of the organization carries the same serial number."""

    default_reason = "DEVICE_ALREADY_EXISTS"

    def __init__(self, serial_number: str, existing_device_id: str):
        super().__init__(
            f"a device with serial number '{serial_number}' is already registered as '{existing_device_id}'",
            details={"serialNumber": serial_number, "deviceId": existing_device_id},
        )
        self.serial_number = serial_number
        self.existing_device_id = existing_device_id


class DeviceHasActiveAlerts(Conflict):
    default_reason = "DEVICE_HAS_ACTIVE_ALERTS"

    def __init__(self, device_id: str, active_alerts: int):
        super().__init__(
            f"device '{device_id}' has {active_alerts} active alert(s); resolve them before deleting it",
            details={"deviceId": device_id, "activeAlerts": str(active_alerts)},
        )
        self.active_alerts = active_alerts


class InvalidDeviceData(ValidationFailed):
    """One or more fields are invalid; `violations` name each by its JSON path (location.lat)."""

    default_reason = "VALIDATION_ERROR"


class DeviceAccessDenied(PermissionDenied):
    default_reason = "FORBIDDEN"


class DeviceChangedConcurrently(Conflict):
    """Another writer saved the device between our read and our write; the use case reads again and retries."""

    default_reason = "DEVICE_CHANGED_CONCURRENTLY"

    def __init__(self, device_id: str):
        super().__init__(
            f"device '{device_id}' was changed by someone else at the same moment; try again",
            details={"deviceId": device_id},
        )
        self.device_id = device_id
