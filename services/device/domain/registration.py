"""Turning a registration request (§3.1.1) into a new device."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.device.domain.commands import RegisterDevice
from services.device.domain.model import (
    SERIAL_NUMBER_KEY,
    Connectivity,
    Device,
    DeviceStatus,
    Location,
    ProvisionedCredentials,
)
from services.device.domain.validation import (
    Violations,
    check_connectivity,
    check_device_type,
    check_location,
    check_metadata,
    check_name,
    check_tags,
)
from services.kernel.caller import Caller


@dataclass(frozen=True)
class ValidRegistration:
    device_type: str
    name: str
    location: Location | None
    connectivity: Connectivity | None
    metadata: dict[str, str]
    tags: tuple[str, ...]

    @property
    def serial_number(self) -> str | None:
        return self.metadata.get(SERIAL_NUMBER_KEY)


def validate_registration(command: RegisterDevice) -> ValidRegistration:
    problems = Violations()
    device_type = check_device_type(command.device_type, problems)
    name = check_name(command.name, problems)
    # Optional: a device's place may be unknown when it is registered (or it moves), and can be set later.
    location = check_location(command.location, problems) if command.location is not None else None
    connectivity = check_connectivity(command.connectivity, problems) if command.connectivity else None
    metadata = check_metadata(command.metadata, problems)
    tags = check_tags(command.tags, problems)
    problems.raise_if_any()
    return ValidRegistration(device_type, name, location, connectivity, metadata, tags)


def new_device(
    registration: ValidRegistration,
    *,
    device_id: str,
    caller: Caller,
    credentials: ProvisionedCredentials,
    now: datetime,
) -> Device:
    return Device(
        device_id=device_id,
        organization_id=caller.organization_id,
        name=registration.name,
        device_type=registration.device_type,
        status=DeviceStatus.REGISTERED,
        created_at=now,
        updated_at=now,
        location=registration.location,
        connectivity=registration.connectivity,
        metadata=registration.metadata,
        tags=registration.tags,
        created_by=caller.user_id,
        certificate_id=credentials.certificate_id,
        certificate_arn=credentials.certificate_arn,
    )
