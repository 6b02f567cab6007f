"""A FirmwareStore in a dict: tests and demos (IOTMON_FIRMWARE_STORE=memory forgets everything on restart)."""

from __future__ import annotations

from datetime import datetime

from services.firmware.domain.catalog.firmware import Firmware, FirmwareStatus
from services.firmware.domain.catalog.listing import FirmwareFilter
from services.kernel.pagination import Page, PageRequest


class InMemoryFirmwareStore:
    def __init__(self) -> None:
        self._items: dict[str, Firmware] = {}

    async def close(self) -> None:
        return None

    async def add_unless_version_taken(self, firmware: Firmware, now: datetime) -> bool:
        # No await between the check and the insert: atomic on one event loop.
        for other in self._items.values():
            if other.org_id == firmware.org_id and other.version == firmware.version and other.holds_version(now):
                return False
        if firmware.firmware_id in self._items or any(
            f.object_key == firmware.object_key for f in self._items.values()
        ):
            return False
        self._items[firmware.firmware_id] = firmware
        return True

    async def get(self, org_id: str, firmware_id: str) -> Firmware | None:
        found = self._items.get(firmware_id)
        return found if found is not None and found.org_id == org_id else None

    async def find_version(self, org_id: str, version: str) -> Firmware | None:
        candidates = [
            f
            for f in self._items.values()
            if f.org_id == org_id and f.version == version and f.status is FirmwareStatus.VALIDATED
        ]
        return max(candidates, key=lambda f: (f.created_at, f.firmware_id), default=None)

    async def find_by_object_key(self, object_key: str) -> Firmware | None:
        return next((f for f in self._items.values() if f.object_key == object_key), None)

    async def list(self, org_id: str, query: FirmwareFilter, page: PageRequest) -> Page[Firmware]:
        matching = [f for f in self._items.values() if f.org_id == org_id and query.matches(f)]
        matching.sort(key=lambda f: (f.created_at, f.firmware_id), reverse=True)
        return Page(matching[page.offset : page.offset + page.page_size], page, len(matching))

    async def replace(self, firmware: Firmware, *, expected: Firmware) -> bool:
        stored = self._items.get(firmware.firmware_id)
        if stored is None or (stored.status, stored.processing_started_at) != (
            expected.status,
            expected.processing_started_at,
        ):
            return False
        self._items[firmware.firmware_id] = firmware
        return True
