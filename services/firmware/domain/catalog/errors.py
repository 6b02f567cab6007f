"""The catalog's errors: each one a type with the reason clients see (spec §8.2)."""

from __future__ import annotations

from services.kernel.errors import AlreadyExists, NotFound, ValidationFailed, Violations


class FirmwareNotFound(NotFound):
    default_reason = "FIRMWARE_NOT_FOUND"

    def __init__(self, firmware_id: str):
        super().__init__(f"Firmware with ID '{firmware_id}' not found", details={"firmwareId": firmware_id})


class FirmwareVersionExists(AlreadyExists):
    default_reason = "FIRMWARE_VERSION_EXISTS"

    def __init__(self, version: str):
        super().__init__(
            f"firmware version '{version}' is already uploaded for this organization", details={"version": version}
        )


class InvalidFirmware(ValidationFailed):
    default_reason = "VALIDATION_ERROR"


class FirmwareViolations(Violations):
    error_type = InvalidFirmware
