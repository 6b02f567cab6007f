"""Listing devices (§3.1.3): the filters, the sort order and the rules every repository must follow.

Repositories that cannot filter or sort in their store (DynamoDB, memory) use `matches` and `sort_devices`;
SQLite does the same in SQL and the shared contract tests hold them to identical results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import TypeVar

from services.device.domain.commands import ListDevices
from services.device.domain.model import Device, DeviceStatus, JsonValue
from services.device.domain.validation import MAX_ADDRESS_LENGTH, Violations, check_device_type, check_tags
from services.kernel.pagination import PageRequest


class SortField(StrEnum):
    NAME = "name"
    LAST_SEEN = "lastSeen"
    STATUS = "status"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


E = TypeVar("E", SortField, SortOrder)


def text_key(text: str) -> str:
    """Case-insensitive form used for sorting names and matching addresses, the same in every store."""
    return text.casefold()


# Cached: every activity update of a device writes a dozen instants, most of them the same as last time (its
# hourly reading counts, its status changes) or as another device's (the hours).
@lru_cache(maxsize=16_384)
def instant_key(moment: datetime) -> str:
    """A UTC timestamp as fixed-width text, so that comparing the text compares the instants.

    2025-11-15T10:05:00.000000Z; isoformat is a third faster than strftime.
    """
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


@dataclass(frozen=True)
class DeviceFilters:
    status: DeviceStatus | None = None
    device_type: str | None = None
    # Case-insensitive substring of the location address.
    location: str | None = None
    # Devices carrying every one of these tags.
    tags: tuple[str, ...] = ()

    def matches(self, device: Device) -> bool:
        if device.is_deleted:
            return False
        if self.status is not None and device.status is not self.status:
            return False
        if self.device_type is not None and device.device_type != self.device_type:
            return False
        if self.location is not None:
            address = device.location.address if device.location else None
            if address is None or text_key(self.location) not in text_key(address):
                return False
        return set(self.tags) <= set(device.tags)

    def echo(self) -> dict[str, JsonValue]:
        """The filters that were given, keyed by their JSON names, as the response repeats them."""
        given: dict[str, JsonValue] = {}
        if self.status is not None:
            given["status"] = self.status.value
        if self.device_type is not None:
            given["deviceType"] = self.device_type
        if self.location is not None:
            given["location"] = self.location
        if self.tags:
            given["tags"] = list(self.tags)
        return given


@dataclass(frozen=True)
class DeviceQuery:
    filters: DeviceFilters = field(default_factory=DeviceFilters)
    sort_field: SortField = SortField.NAME
    sort_order: SortOrder = SortOrder.ASC
    page: PageRequest = field(default_factory=PageRequest)


def sort_value(device: Device, sort_field: SortField) -> str | None:
    """The text a device is ordered by; None when it has no value for the field (never seen)."""
    if sort_field is SortField.NAME:
        return text_key(device.name)
    if sort_field is SortField.STATUS:
        return device.status.value
    return instant_key(device.last_seen) if device.last_seen else None


def sort_devices(devices: Iterable[Device], sort_field: SortField, sort_order: SortOrder) -> list[Device]:
    """Order by the field in the requested direction, devices without a value last, ties by device id."""
    keyed = sorted(((sort_value(d, sort_field), d) for d in devices), key=lambda pair: pair[1].device_id)
    with_value = [(key, d) for key, d in keyed if key is not None]
    without_value = [d for key, d in keyed if key is None]
    # Python's sort is stable even when reversed, so equal values keep the device-id order.
    with_value.sort(key=lambda pair: pair[0], reverse=sort_order is SortOrder.DESC)
    return [d for _, d in with_value] + without_value


def parse_list_query(command: ListDevices) -> DeviceQuery:
    """Validate the query parameters of §3.1.3; a blank filter counts as not given."""
    problems = Violations()
    filters = DeviceFilters(
        status=_listable_status(command.status, problems),
        device_type=_blank_to_none(command.device_type),
        location=_blank_to_none(command.location),
        tags=check_tags([t.strip() for entry in command.tags for t in entry.split(",") if t.strip()], problems),
    )
    if filters.device_type is not None:
        check_device_type(filters.device_type, problems)
    if filters.location is not None and len(filters.location) > MAX_ADDRESS_LENGTH:
        problems.add("location", f"must be at most {MAX_ADDRESS_LENGTH} characters")
    sort_field = _choice(SortField, command.sort_by, SortField.NAME, "sortBy", problems)
    sort_order = _choice(SortOrder, command.sort_order, SortOrder.ASC, "sortOrder", problems)
    problems.raise_if_any()
    page = PageRequest.parse(command.page, command.page_size)
    return DeviceQuery(filters, sort_field, sort_order, page)


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _listable_status(value: str | None, problems: Violations) -> DeviceStatus | None:
    text = _blank_to_none(value)
    if text is None:
        return None
    listable = [s.value for s in DeviceStatus if s is not DeviceStatus.DELETED]
    if text.lower() not in listable:
        problems.add("status", f"must be one of {', '.join(listable)}, got {value!r}")
        return None
    return DeviceStatus(text.lower())


def _choice(kind: type[E], value: str | None, default: E, field: str, problems: Violations) -> E:
    text = _blank_to_none(value)
    if text is None:
        return default
    for member in kind:
        if member.value == text:
            return member
    problems.add(field, f"must be one of {', '.join(m.value for m in kind)}, got {value!r}")
    return default
