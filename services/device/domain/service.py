"""The device use cases (spec §3.1.1–§3.1.5), each checking the caller's permissions first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from services.device.domain.commands import ListDevices, RegisterDevice, UpdateDevice
from services.device.domain.errors import (
    DeviceAlreadyExists,
    DeviceChangedConcurrently,
    DeviceHasActiveAlerts,
    DeviceNotFound,
)
from services.device.domain.health import Health, HealthPolicy, health_of, with_status
from services.device.domain.listing import parse_list_query
from services.device.domain.model import Device, DeviceChange, DeviceStatus, JsonValue, ProvisionedCredentials
from services.device.domain.registration import new_device, validate_registration
from services.device.domain.updates import (
    DevicePatch,
    apply_patch,
    ensure_owner_or_admin,
    field_changes,
    validate_patch,
)
from services.device.domain.validation import Violations
from services.device.ports import ActiveAlerts, DeviceEvents, DeviceRegistry, DeviceRepository
from services.kernel.caller import Caller, Role
from services.kernel.clock import Clock, SystemClock
from services.kernel.ids import new_id
from services.kernel.pagination import Page, PageRequest

MAX_BATCH = 500
# A user's change meeting a concurrent write (usually telemetry activity) is re-applied to the fresh device.
MAX_ATTEMPTS = 3

T = TypeVar("T")


@dataclass(frozen=True)
class Registration:
    device: Device
    credentials: ProvisionedCredentials


@dataclass(frozen=True)
class DeviceView:
    """A device as users see it: with its health as of now (None before any activity)."""

    device: Device
    health: Health | None


@dataclass(frozen=True)
class DeviceListing:
    page: Page[DeviceView]
    filters: dict[str, JsonValue]


class DeviceService:
    def __init__(
        self,
        repository: DeviceRepository,
        registry: DeviceRegistry,
        alerts: ActiveAlerts,
        events: DeviceEvents,
        clock: Clock | None = None,
        policy: HealthPolicy | None = None,
    ):
        self._repository = repository
        self._registry = registry
        self._alerts = alerts
        self._events = events
        self._clock = clock or SystemClock()
        self._policy = policy or HealthPolicy()

    async def register(self, caller: Caller, command: RegisterDevice) -> Registration:
        caller.require(Role.OPERATOR, "register a device")
        registration = validate_registration(command)
        if registration.serial_number is not None:
            await self._ensure_serial_free(caller.organization_id, registration.serial_number, device_id=None)
        device_id = new_id("dev")
        credentials = await self._registry.provision(device_id, caller.organization_id, registration.device_type)
        device = new_device(
            registration, device_id=device_id, caller=caller, credentials=credentials, now=self._clock.now()
        )
        try:
            await self._repository.add(device)
        except Exception:
            # Typically a concurrent registration won the serial number: credentials of a device that
            # was never stored must not stay able to connect.
            await self._registry.deactivate(device_id, credentials.certificate_id)
            raise
        await self._events.registered(device, caller.user_id)
        return Registration(device, credentials)

    async def get(self, caller: Caller, device_id: str) -> DeviceView:
        return self._view(await self._live_device(caller, device_id))

    async def list_devices(self, caller: Caller, command: ListDevices) -> DeviceListing:
        organization_id = (command.organization_id or "").strip() or caller.organization_id
        caller.require_organization(organization_id)
        query = parse_list_query(command)
        page = await self._repository.list_devices(organization_id, query)
        now = self._clock.now()
        views = Page([self._view(d, now) for d in page.items], page.request, page.total_items)
        return DeviceListing(views, query.filters.echo())

    async def update(self, caller: Caller, command: UpdateDevice) -> DeviceView:
        caller.require(Role.OPERATOR, "update a device")
        patch = validate_patch(command)
        updated = await _retrying(lambda: self._update_once(caller, command.device_id, patch))
        return self._view(updated)

    async def _update_once(self, caller: Caller, device_id: str, patch: DevicePatch) -> Device:
        current = await self._live_device(caller, device_id)
        ensure_owner_or_admin(caller, current)
        updated = apply_patch(current, patch, self._clock.now(), self._policy)
        changes = field_changes(current, updated)
        if not changes:
            return current
        if updated.serial_number is not None and updated.serial_number != current.serial_number:
            await self._ensure_serial_free(caller.organization_id, updated.serial_number, current.device_id)
        change = DeviceChange(
            change_id=new_id("chg"),
            device_id=current.device_id,
            organization_id=current.organization_id,
            changed_at=updated.updated_at,
            changed_by=caller.user_id,
            changes=changes,
        )
        await self._repository.save(updated, previous=current, change=change)
        await self._events.updated(updated, change)
        if updated.status is not current.status:
            await self._events.status_changed(updated.state, current.status, caller.user_id)
        return updated

    async def delete(self, caller: Caller, device_id: str) -> Device:
        caller.require(Role.ADMIN, "delete a device")
        return await _retrying(lambda: self._delete_once(caller, device_id))

    async def _delete_once(self, caller: Caller, device_id: str) -> Device:
        device = await self._live_device(caller, device_id)
        active_alerts = await self._alerts.count_active(device.device_id)
        if active_alerts > 0:
            raise DeviceHasActiveAlerts(device.device_id, active_alerts)
        # Credentials first: if that fails the device is still there and deleting again retries both;
        # the other way round a failure would leave a deleted device whose certificate still connects.
        if device.certificate_id is not None:
            await self._registry.deactivate(device.device_id, device.certificate_id)
        now = self._clock.now()
        deleted = replace(with_status(device, DeviceStatus.DELETED, now, self._policy), deleted_at=now, updated_at=now)
        await self._repository.save(deleted, previous=device)
        await self._events.deleted(deleted, caller.user_id)
        return deleted

    async def list_changes(
        self, caller: Caller, device_id: str, page: int | None, page_size: int | None
    ) -> Page[DeviceChange]:
        request = PageRequest.parse(page, page_size)
        device = await self._live_device(caller, device_id)
        return await self._repository.list_changes(device.organization_id, device.device_id, request)

    async def batch_get(self, caller: Caller, device_ids: Sequence[str], include_deleted: bool = False) -> list[Device]:
        """Devices among `device_ids` in the order asked; unknown ones (and deleted ones unless asked) left out.

        A platform service (telemetry) looks in every organization; a user only in their own.
        """
        wanted = _unique_ids(device_ids)
        if caller.is_service:
            found = await self._repository.get_many_across_organizations(wanted)
        else:
            found = await self._repository.get_many(caller.organization_id, wanted)
        by_id = {d.device_id: d for d in found if include_deleted or not d.is_deleted}
        return [by_id[i] for i in wanted if i in by_id]

    def _view(self, device: Device, now: datetime | None = None) -> DeviceView:
        return DeviceView(device, health_of(device, now or self._clock.now(), self._policy))

    async def _live_device(self, caller: Caller, device_id: str) -> Device:
        """The device of the caller's organization; another organization's or a deleted one is 404."""
        device = await self._repository.get(caller.organization_id, device_id)
        if device is None or device.is_deleted:
            raise DeviceNotFound(device_id)
        return device

    async def _ensure_serial_free(self, organization_id: str, serial_number: str, device_id: str | None) -> None:
        existing = await self._repository.find_by_serial(organization_id, serial_number)
        if existing is not None and existing.device_id != device_id:
            raise DeviceAlreadyExists(serial_number, existing.device_id)


def _unique_ids(device_ids: Sequence[str]) -> list[str]:
    problems = Violations()
    if len(device_ids) > MAX_BATCH:
        problems.add("deviceIds", f"must name at most {MAX_BATCH} devices, got {len(device_ids)}")
    problems.raise_if_any()
    return list(dict.fromkeys(i for i in device_ids if i))


async def _retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run a read-modify-write again when its write met a concurrent one; each attempt reads afresh."""
    for _ in range(MAX_ATTEMPTS - 1):
        try:
            return await attempt()
        except DeviceChangedConcurrently:
            continue
    return await attempt()
