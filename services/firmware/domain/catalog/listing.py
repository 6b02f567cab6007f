"""Filters of the firmware list (§3.4.2), validated into a typed query."""

from __future__ import annotations

from dataclasses import dataclass

from services.firmware.domain.catalog.errors import FirmwareViolations
from services.firmware.domain.catalog.firmware import Firmware, FirmwareStatus
from services.kernel.pagination import PageRequest


@dataclass(frozen=True)
class FirmwareFilter:
    device_type: str | None = None
    status: FirmwareStatus | None = None

    def matches(self, firmware: Firmware) -> bool:
        return (self.device_type is None or firmware.supports(self.device_type)) and (
            self.status is None or firmware.status is self.status
        )


@dataclass(frozen=True)
class ListFirmware:
    device_type: str | None = None
    status: str | None = None
    page: int | None = None
    page_size: int | None = None


def parse_firmware_query(command: ListFirmware) -> tuple[FirmwareFilter, PageRequest]:
    v = FirmwareViolations()
    status = None
    if command.status is not None:
        try:
            status = FirmwareStatus(command.status.strip().lower())
        except ValueError:
            allowed = ", ".join(s.value for s in FirmwareStatus)
            v.add("status", f"must be one of {allowed}, got {command.status!r}")
    device_type = command.device_type.strip() if command.device_type is not None else None
    v.raise_if_any()
    return FirmwareFilter(device_type or None, status), PageRequest.parse(command.page, command.page_size)
