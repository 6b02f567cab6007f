"""Registering a device (§3.1.1)."""

from __future__ import annotations

import pytest

from services.device.domain.errors import DeviceAlreadyExists, InvalidDeviceData
from services.device.domain.model import DeviceStatus
from services.kernel.caller import Role
from services.kernel.errors import PermissionDenied
from tests.unit.device.builders import caller, registration
from tests.unit.device.fakes import Harness, RaceLosingRepository


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN])
async def test_operators_and_admins_register_a_device_with_credentials(harness: Harness, role: Role) -> None:
    result = await harness.service.register(caller(role, user="user-7"), registration())
    device = result.device
    assert device.device_id.startswith("dev-")
    assert device.status is DeviceStatus.REGISTERED
    assert (device.organization_id, device.created_by) == ("org-1", "user-7")
    assert device.created_at == device.updated_at
    assert result.credentials.certificate_id == f"cert-{device.device_id}"
    assert device.certificate_id == result.credentials.certificate_id
    assert device.certificate_arn == result.credentials.certificate_arn
    assert await harness.repository.get("org-1", device.device_id) == device
    assert harness.events.published == [("registered", device.device_id, "user-7")]


async def test_viewers_cannot_register(harness: Harness) -> None:
    with pytest.raises(PermissionDenied) as refused:
        await harness.service.register(caller(Role.VIEWER), registration())
    assert refused.value.reason == "FORBIDDEN"
    assert harness.registry.records == {}


async def test_invalid_input_provisions_nothing(harness: Harness) -> None:
    with pytest.raises(InvalidDeviceData):
        await harness.service.register(caller(), registration(name="x"))
    assert harness.registry.records == {}
    assert harness.events.published == []


async def test_a_serial_number_already_registered_in_the_organization_is_409(harness: Harness) -> None:
    first = await harness.service.register(caller(), registration())
    with pytest.raises(DeviceAlreadyExists) as refused:
        await harness.service.register(caller(), registration(name="Another-Sensor"))
    assert refused.value.reason == "DEVICE_ALREADY_EXISTS"
    assert refused.value.details == {"serialNumber": "SN123456789", "deviceId": first.device.device_id}
    # Refused before provisioning: only the first device got a certificate.
    assert list(harness.registry.records) == [first.credentials.certificate_id]


async def test_the_same_serial_number_in_another_organization_is_fine(harness: Harness) -> None:
    await harness.service.register(caller(org="org-1"), registration())
    other = await harness.service.register(caller(org="org-2"), registration())
    assert other.device.organization_id == "org-2"


async def test_devices_without_serial_numbers_never_clash(harness: Harness) -> None:
    command = registration(metadata={"manufacturer": "SensorCorp"})
    first = await harness.service.register(caller(), command)
    second = await harness.service.register(caller(), command)
    assert first.device.device_id != second.device.device_id


async def test_losing_the_race_for_the_serial_deactivates_the_new_credentials() -> None:
    harness = Harness(repository=RaceLosingRepository())
    with pytest.raises(DeviceAlreadyExists) as refused:
        await harness.service.register(caller(), registration())
    assert refused.value.existing_device_id == "dev-winner"
    assert len(harness.registry.records) == 1
    assert harness.registry.active_certificates() == []
    assert harness.events.published == []
