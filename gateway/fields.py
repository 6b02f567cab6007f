"""Text (a query parameter or a path segment) → a typed value in one field of a request message.

Everything per field is decided once at startup: which names reach it (JSON and proto names, dotted for
nested fields), how to convert the text, and how to store the value. Per request only the stored
closures run.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

Convert = Callable[[str], object]
# Stores the texts given for one field into the message that holds it.
Assign = Callable[[Message, list[str]], None]

_INTEGER = re.compile(r"[+-]?\d+")
_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_WRAPPERS = {
    "google.protobuf.DoubleValue": FieldDescriptor.TYPE_DOUBLE,
    "google.protobuf.FloatValue": FieldDescriptor.TYPE_FLOAT,
    "google.protobuf.Int64Value": FieldDescriptor.TYPE_INT64,
    "google.protobuf.UInt64Value": FieldDescriptor.TYPE_UINT64,
    "google.protobuf.Int32Value": FieldDescriptor.TYPE_INT32,
    "google.protobuf.UInt32Value": FieldDescriptor.TYPE_UINT32,
    "google.protobuf.BoolValue": FieldDescriptor.TYPE_BOOL,
    "google.protobuf.StringValue": FieldDescriptor.TYPE_STRING,
    "google.protobuf.BytesValue": FieldDescriptor.TYPE_BYTES,
}
# Message types written as one string in JSON, so a query parameter can carry them.
TEXT_MESSAGES = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask", *_WRAPPERS}
# Free-form JSON: only a body can carry them.
JSON_MESSAGES = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any"}
MAX_QUERY_DEPTH = 4


def is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def message_name(field: FieldDescriptor) -> str:
    """The full name of a message field's type; "" for scalars and enums."""
    return field.message_type.full_name if field.message_type is not None else ""


def is_text_field(field: FieldDescriptor) -> bool:
    """A field whose value is one JSON string or number: a scalar, an enum or a well-known text message."""
    name = message_name(field)
    return not name or name in TEXT_MESSAGES


def is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


@dataclass(frozen=True)
class FieldBinding:
    """Where the text of one parameter goes: the field path from the request message to the leaf."""

    name: str  # canonical (JSON) parameter name, e.g. "aggregation.interval"
    path: tuple[FieldDescriptor, ...]
    convert: Convert
    assign: Assign

    @property
    def repeated(self) -> bool:
        return is_repeated(self.path[-1])

    @property
    def leaf(self) -> FieldDescriptor:
        return self.path[-1]

    def apply(self, message: Message, texts: list[str]) -> None:
        """Store the texts; raises ValueError with a client-readable reason when one does not convert."""
        holder = message
        for field in self.path[:-1]:
            holder = getattr(holder, field.name)
        self.assign(holder, texts)


def binding_for(path: tuple[FieldDescriptor, ...]) -> FieldBinding:
    leaf = path[-1]
    convert = converter(leaf)
    return FieldBinding(json_path(path), path, convert, _assigner(leaf, convert))


def json_path(path: tuple[FieldDescriptor, ...]) -> str:
    return ".".join(f.json_name for f in path)


def spellings(path: tuple[FieldDescriptor, ...]) -> set[str]:
    """Every way a client may name a field: each segment by its JSON or proto name (pageSize, page_size)."""
    choices = [{f.json_name, f.name} for f in path]
    return {".".join(combo) for combo in itertools.product(*choices)}


def query_paths(
    message: Descriptor, prefix: tuple[FieldDescriptor, ...] = (), depth: int = 0
) -> Iterator[tuple[FieldDescriptor, ...]]:
    """Field paths a query parameter can fill: text leaves, nested through singular messages."""
    for field in message.fields:
        path = (*prefix, field)
        if is_text_field(field):
            yield path
        elif (
            field.message_type is not None
            and not is_repeated(field)
            and field.message_type.full_name not in JSON_MESSAGES
            and depth < MAX_QUERY_DEPTH
        ):
            yield from query_paths(field.message_type, path, depth + 1)


def resolve_path(message: Descriptor, dotted: str) -> tuple[FieldDescriptor, ...]:
    """The fields named by a proto field path such as `device_id` or `location.address`."""
    path: list[FieldDescriptor] = []
    current: Descriptor | None = message
    for name in dotted.split("."):
        field = current.fields_by_name.get(name) if current is not None else None
        if field is None:
            raise ValueError(f"{message.full_name} has no field {dotted!r}")
        path.append(field)
        current = field.message_type
    return tuple(path)


def _assigner(leaf: FieldDescriptor, convert: Convert) -> Assign:
    name = leaf.name
    repeated = is_repeated(leaf)
    if leaf.type == FieldDescriptor.TYPE_MESSAGE:
        store = _message_store(message_name(leaf), convert)

        def assign_messages(holder: Message, texts: list[str]) -> None:
            if repeated:
                for text in texts:
                    store(getattr(holder, name).add(), text)
            else:
                store(getattr(holder, name), texts[-1])

        return assign_messages

    def assign_scalars(holder: Message, texts: list[str]) -> None:
        if repeated:
            getattr(holder, name).extend([convert(t) for t in texts])
        else:
            setattr(holder, name, convert(texts[-1]))

    return assign_scalars


def _message_store(full_name: str, convert: Convert) -> Callable[[Message, str], None]:
    if full_name == "google.protobuf.Timestamp":
        return lambda target, text: target.FromDatetime(convert(text))  # type: ignore[attr-defined]
    if full_name in _WRAPPERS:
        return lambda target, text: setattr(target, "value", convert(text))
    # Duration and FieldMask parse their own JSON string form.
    return lambda target, text: _from_json_string(target, text)


def _from_json_string(target: Message, text: str) -> None:
    try:
        target.FromJsonString(text)  # type: ignore[attr-defined]
    except (ValueError, TypeError) as error:
        raise ValueError(f"is not a valid {target.DESCRIPTOR.name}: {error}") from None


def converter(field: FieldDescriptor) -> Convert:
    """The function turning a parameter's text into the field's Python value (ValueError when it cannot)."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        full_name = message_name(field)
        if full_name == "google.protobuf.Timestamp":
            return parse_timestamp
        if full_name in _WRAPPERS:
            kind = _WRAPPERS[full_name]
        else:
            return str
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return lambda text: _parse_int(text, low, high)
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _parse_number
    if kind == FieldDescriptor.TYPE_BOOL:
        return _parse_bool
    if kind == FieldDescriptor.TYPE_BYTES:
        return _parse_bytes
    if kind == FieldDescriptor.TYPE_ENUM:
        return _enum_parser(field)
    return str


def _parse_int(text: str, low: int, high: int) -> int:
    if not _INTEGER.fullmatch(text.strip()):
        raise ValueError(f"must be an integer, got {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}, got {value}")
    return value


def _parse_number(text: str) -> float:
    try:
        if "_" in text:
            raise ValueError
        return float(text)
    except ValueError:
        raise ValueError(f"must be a number, got {text!r}") from None


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(f"must be true or false, got {text!r}")


def _parse_bytes(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError):
        raise ValueError("must be base64") from None


def _enum_parser(field: FieldDescriptor) -> Convert:
    enum = field.enum_type
    assert enum is not None, "an enum field has an enum type"
    values = enum.values_by_name
    numbers = {v.number for v in enum.values}

    def parse(text: str) -> int:
        if text in values:
            return int(values[text].number)
        if _INTEGER.fullmatch(text) and int(text) in numbers:
            return int(text)
        raise ValueError(f"must be one of {', '.join(values)}, got {text!r}")

    return parse


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 date-time (a date alone means its midnight); without an offset the time is UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"must be an ISO 8601 date-time such as 2025-11-15T10:00:00Z, got {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
