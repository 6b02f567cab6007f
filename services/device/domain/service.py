"""The device use cases (spec §3.1.1–§3.1.5), each checking the caller's permissions first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from services.device.domain.commands import ActivityReport, ListDevices, RegisterDevice, UpdateDevice
from services.device.domain.errors import DeviceAlreadyExists, DeviceHasActiveAlerts, DeviceNotFound
from services.device.domain.listing import parse_list_query
from services.device.domain.model import (
    Device,
    DeviceChange,
    DeviceStatus,
    JsonValue,
    ProvisionedCredentials,
    Reading,
)
from services.device.domain.registration import new_device, validate_registration
from services.device.domain.updates import apply_patch, ensure_owner_or_admin, field_changes, validate_patch
from services.device.domain.validation import Violations, check_number
from services.device.ports import ActiveAlerts, DeviceEvents, DeviceRegistry, DeviceRepository
from services.kernel.caller import Caller, Role
from services.kernel.clock import Clock, SystemClock
from services.kernel.ids import new_id
from services.kernel.pagination import Page, PageRequest

MAX_BATCH = 500
# A device that reports data is evidently connected; these statuses follow its activity automatically.
STATUSES_FOLLOWING_ACTIVITY = frozenset({DeviceStatus.REGISTERED, DeviceStatus.OFFLINE})


@dataclass(frozen=True)
class Registration:
    device: Device
    credentials: ProvisionedCredentials


@dataclass(frozen=True)
class DeviceListing:
    page: Page[Device]
    filters: dict[str, JsonValue]


class DeviceService:
    def __init__(
        self,
        repository: DeviceRepository,
        registry: DeviceRegistry,
        alerts: ActiveAlerts,
        events: DeviceEvents,
        clock: Clock | None = None,
    ):
        self._repository = repository
        self._registry = registry
        self._alerts = alerts
        self._events = events
        self._clock = clock or SystemClock()

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

    async def get(self, caller: Caller, device_id: str) -> Device:
        return await self._live_device(caller, device_id)

    async def list_devices(self, caller: Caller, command: ListDevices) -> DeviceListing:
        organization_id = (command.organization_id or "").strip() or caller.organization_id
        caller.require_organization(organization_id)
        query = parse_list_query(command)
        page = await self._repository.list_devices(organization_id, query)
        return DeviceListing(page, query.filters.echo())

    async def update(self, caller: Caller, command: UpdateDevice) -> Device:
        caller.require(Role.OPERATOR, "update a device")
        patch = validate_patch(command)
        current = await self._live_device(caller, command.device_id)
        ensure_owner_or_admin(caller, current)
        updated = apply_patch(current, patch, self._clock.now())
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
            await self._events.status_changed(updated, current.status, caller.user_id)
        return updated

    async def delete(self, caller: Caller, device_id: str) -> Device:
        caller.require(Role.ADMIN, "delete a device")
        device = await self._live_device(caller, device_id)
        active_alerts = await self._alerts.count_active(device.device_id)
        if active_alerts > 0:
            raise DeviceHasActiveAlerts(device.device_id, active_alerts)
        # Credentials first: if that fails the device is still there and deleting again retries both;
        # the other way round a failure would leave a deleted device whose certificate still connects.
        if device.certificate_id is not None:
            await self._registry.deactivate(device.device_id, device.certificate_id)
        now = self._clock.now()
        deleted = replace(device, status=DeviceStatus.DELETED, deleted_at=now, updated_at=now)
        await self._repository.save(deleted, previous=device)
        await self._events.deleted(deleted, caller.user_id)
        return deleted

    async def list_changes(
        self, caller: Caller, device_id: str, page: int | None, page_size: int | None
    ) -> Page[DeviceChange]:
        request = PageRequest.parse(page, page_size)
        device = await self._live_device(caller, device_id)
        return await self._repository.list_changes(device.organization_id, device.device_id, request)

    async def batch_get(self, caller: Caller, device_ids: Sequence[str]) -> list[Device]:
        """The caller's organization's live devices among `device_ids`, in the order asked; others left out."""
        wanted = _unique_ids(device_ids)
        found = await self._repository.get_many(caller.organization_id, wanted)
        by_id = {d.device_id: d for d in found if not d.is_deleted}
        return [by_id[i] for i in wanted if i in by_id]

    async def record_activity(self, caller: Caller, reports: Sequence[ActivityReport]) -> int:
        """Apply the newest reading per device; returns how many devices changed.

        Internal RPC of the telemetry service, not exposed over HTTP: it records facts telemetry has
        already accepted for the caller's organization, so any role of that organization may call it.
        """
        newest = _newest_per_device(reports)
        devices = await self._repository.get_many(caller.organization_id, list(newest))
        updated = 0
        for device in devices:
            reading = newest[device.device_id]
            if device.is_deleted or (device.last_seen is not None and reading.timestamp <= device.last_seen):
                continue
            status = DeviceStatus.ONLINE if device.status in STATUSES_FOLLOWING_ACTIVITY else device.status
            seen = replace(device, last_seen=reading.timestamp, last_reading=reading, status=status)
            await self._repository.save(seen, previous=device)
            updated += 1
            if status is not device.status:
                await self._events.status_changed(seen, device.status, None)
        return updated

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


def _newest_per_device(reports: Sequence[ActivityReport]) -> dict[str, Reading]:
    """The newest reading of each device; its timestamp is when the device was last seen."""
    problems = Violations()
    if len(reports) > MAX_BATCH:
        problems.add("activities", f"must have at most {MAX_BATCH} entries, got {len(reports)}")
    newest: dict[str, Reading] = {}
    for index, report in enumerate(reports):
        if report.last_seen is None:
            problems.add(f"activities[{index}].lastSeen", "is required")
            continue
        values: dict[str, float] = {}
        for metric, value in report.values.items():
            number = check_number(value, problems, f"activities[{index}].lastReading.{metric}")
            if number is not None:
                values[metric] = number
        known = newest.get(report.device_id)
        if known is None or report.last_seen > known.timestamp:
            newest[report.device_id] = Reading(values, report.last_seen)
    problems.raise_if_any()
    return newest
