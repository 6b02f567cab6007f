"""An in-memory DeviceRepository: a supported adapter (tests, `store=memory`), held to the same contract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from services.device.domain.errors import DeviceAlreadyExists, DeviceChangedConcurrently
from services.device.domain.listing import DeviceQuery, sort_devices
from services.device.domain.model import Device, DeviceChange, DeviceState, DeviceStatus
from services.kernel.pagination import Page, PageRequest


class InMemoryDeviceRepository:
    def __init__(self) -> None:
        self._devices: dict[tuple[str, str], Device] = {}
        self._changes: dict[tuple[str, str], list[DeviceChange]] = {}

    async def add(self, device: Device) -> None:
        key = (device.organization_id, device.device_id)
        if key in self._devices:
            raise ValueError(f"device {device.device_id} is already stored")
        self._check_serial(device)
        self._devices[key] = device

    async def get(self, organization_id: str, device_id: str) -> Device | None:
        return self._devices.get((organization_id, device_id))

    async def get_many(self, organization_id: str, device_ids: Sequence[str]) -> list[Device]:
        found = (self._devices.get((organization_id, i)) for i in dict.fromkeys(device_ids))
        return [d for d in found if d is not None]

    async def get_many_across_organizations(self, device_ids: Sequence[str]) -> list[Device]:
        wanted = set(device_ids)
        return [d for d in self._devices.values() if d.device_id in wanted]

    async def get_states(self, device_ids: Sequence[str]) -> list[DeviceState]:
        return [d.state for d in await self.get_many_across_organizations(device_ids)]

    async def find_silent(self, silent_since: datetime, limit: int) -> list[DeviceState]:
        silent = [
            d
            for d in self._devices.values()
            if d.status is DeviceStatus.ONLINE and d.heartbeat_at is not None and d.heartbeat_at < silent_since
        ]
        silent.sort(key=lambda d: (d.heartbeat_at, d.device_id))
        return [d.state for d in silent[:limit]]

    async def find_by_serial(self, organization_id: str, serial_number: str) -> Device | None:
        return self._live_with_serial(organization_id, serial_number)

    async def list_devices(self, organization_id: str, query: DeviceQuery) -> Page[Device]:
        matching = [
            d for d in self._devices.values() if d.organization_id == organization_id and query.filters.matches(d)
        ]
        ordered = sort_devices(matching, query.sort_field, query.sort_order)
        start = query.page.offset
        return Page(ordered[start : start + query.page.page_size], query.page, len(ordered))

    async def save(self, device: Device, *, previous: Device, change: DeviceChange | None = None) -> None:
        self._store(device, previous, change)

    async def save_states(self, updates: Sequence[tuple[DeviceState, DeviceState]]) -> set[str]:
        conflicted: set[str] = set()
        for state, previous in updates:
            key = (state.organization_id, state.device_id)
            stored = self._devices.get(key)
            if stored is None or stored.revision != previous.revision:
                conflicted.add(state.device_id)
                continue
            self._devices[key] = replace(stored.with_state(state), revision=previous.revision + 1)
        return conflicted

    async def list_changes(self, organization_id: str, device_id: str, page: PageRequest) -> Page[DeviceChange]:
        # Recorded in order, so newest first is the reverse; the sort keeps that order for equal times.
        changes = list(reversed(self._changes.get((organization_id, device_id), [])))
        changes.sort(key=lambda c: c.changed_at, reverse=True)
        return Page(changes[page.offset : page.offset + page.page_size], page, len(changes))

    def _store(self, device: Device, previous: Device, change: DeviceChange | None) -> None:
        key = (device.organization_id, device.device_id)
        self._check_revision(key, previous)
        self._check_serial(device)
        self._devices[key] = replace(device, revision=previous.revision + 1)
        if change is not None:
            self._changes.setdefault(key, []).append(change)

    def _check_revision(self, key: tuple[str, str], previous: Device) -> None:
        stored = self._devices.get(key)
        if stored is None:
            raise KeyError(f"device {previous.device_id} is not stored")
        if stored.revision != previous.revision:
            raise DeviceChangedConcurrently(previous.device_id)

    def _live_with_serial(self, organization_id: str, serial_number: str) -> Device | None:
        for device in self._devices.values():
            live = device.organization_id == organization_id and not device.is_deleted
            if live and device.serial_number == serial_number:
                return device
        return None

    def _check_serial(self, device: Device) -> None:
        """What the unique index of the other stores does: one live device per serial number."""
        serial = device.serial_number
        if serial is None or device.is_deleted:
            return
        holder = self._live_with_serial(device.organization_id, serial)
        if holder is not None and holder.device_id != device.device_id:
            raise DeviceAlreadyExists(serial, holder.device_id)
