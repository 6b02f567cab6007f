"""Protobuf message → JSON-ready dict, compiled once per message type.

The output is exactly json_format.MessageToDict(message, always_print_fields_with_no_presence=True,
unquote_int64_if_possible=True) — same keys, key order and values (tests/unit/gateway/test_render.py checks
every message of every route) — at a fraction of the cost: json_format re-inspects each field's
descriptor on every call, this decides per field once. Field kinds it does not compile (enums, 32-bit
floats, Any, extensions) make the whole message fall back to json_format.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any, cast

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.fields import is_map, is_repeated

Render = Callable[[Any], Any]

_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}
_AS_IS = {
    FieldDescriptor.TYPE_STRING,
    FieldDescriptor.TYPE_BOOL,
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32,
}
_TEXT_FORM = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
_WRAPPERS = {
    "google.protobuf.DoubleValue",
    "google.protobuf.FloatValue",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.Int32Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
}


def message_to_dict(message: Message) -> Any:
    """The reference conversion; the compiled renderers must equal it."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True, unquote_int64_if_possible=True)


class JsonRenderer:
    def __init__(self) -> None:
        self._renderers: dict[str, Render] = {}

    def to_dict(self, message: Message) -> Any:
        return self.for_type(cast(Descriptor, message.DESCRIPTOR))(message)

    def for_type(self, descriptor: Descriptor) -> Render:
        render = self._renderers.get(descriptor.full_name)
        if render is None:
            # A trampoline first, so a recursive message type finds itself while it is being compiled.
            self._renderers[descriptor.full_name] = lambda message: self._renderers[descriptor.full_name](message)
            render = self._compile(descriptor)
            self._renderers[descriptor.full_name] = render
        return render

    def _compile(self, descriptor: Descriptor) -> Render:
        name = descriptor.full_name
        if name == "google.protobuf.Any":
            return message_to_dict
        if name in _TEXT_FORM:
            return lambda message: message.ToJsonString()
        if name == "google.protobuf.Struct":
            return _struct
        if name == "google.protobuf.Value":
            return _value
        if name == "google.protobuf.ListValue":
            return _list_value
        if name in _WRAPPERS:
            inner = _scalar(descriptor.fields_by_name["value"])
            if inner is not None:
                return lambda message: inner(message.value)
        return self._compile_regular(descriptor)

    def _compile_regular(self, descriptor: Descriptor) -> Render:
        converters: dict[FieldDescriptor, tuple[str, Render]] = {}
        defaults: list[tuple[str, Callable[[], Any]]] = []
        for field in descriptor.fields:
            convert = self._field(field)
            if convert is None:
                return message_to_dict
            converters[field] = (field.json_name, convert)
            if not field.has_presence:
                defaults.append((field.json_name, _default(field, convert)))

        def render(message: Message) -> dict[str, Any]:
            js: dict[str, Any] = {}
            for field, value in message.ListFields():
                entry = converters.get(field)
                if entry is None:  # an extension: leave the rare case to json_format
                    return message_to_dict(message)  # type: ignore[no-any-return]
                js[entry[0]] = entry[1](value)
            for name, default in defaults:
                if name not in js:
                    js[name] = default()
            return js

        return render

    def _field(self, field: FieldDescriptor) -> Render | None:
        if field.message_type is not None and is_map(field):
            convert_value = self._single(field.message_type.fields_by_name["value"])
            if convert_value is None:
                return None
            return lambda mapping: {_map_key(k): convert_value(mapping[k]) for k in mapping}
        single = self._single(field)
        if single is None or not is_repeated(field):
            return single
        if field.type in _AS_IS:
            return list
        return lambda values: [single(v) for v in values]

    def _single(self, field: FieldDescriptor) -> Render | None:
        if field.message_type is not None:
            return self.for_type(field.message_type)
        return _scalar(field)


def _scalar(field: FieldDescriptor) -> Render | None:
    kind = field.type
    if kind in _AS_IS:
        return _same
    if kind in _INT64:
        return _int64
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return _double
    if kind == FieldDescriptor.TYPE_BYTES:
        return lambda value: base64.b64encode(value).decode("utf-8")
    return None  # enums and 32-bit floats: json_format knows their corner cases


def _default(field: FieldDescriptor, convert: Render) -> Callable[[], Any]:
    if field.message_type is not None and is_map(field):
        return dict
    if is_repeated(field):
        return list
    value = convert(field.default_value)
    return lambda: value


def _same(value: Any) -> Any:
    return value


def _int64(value: int) -> int | str:
    return value if float(value) == value else str(value)


def _double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _value(message: struct_pb2.Value) -> Any:
    which = message.WhichOneof("kind")
    if which is None or which == "null_value":
        return None
    if which == "number_value":
        number = message.number_value
        if not math.isfinite(number):
            raise ValueError("a Value cannot hold NaN or Infinity in JSON")
        return number
    if which == "string_value":
        return message.string_value
    if which == "bool_value":
        return message.bool_value
    if which == "struct_value":
        return _struct(message.struct_value)
    return _list_value(message.list_value)


def _struct(message: struct_pb2.Struct) -> dict[str, Any]:
    fields = message.fields
    return {key: _value(fields[key]) for key in fields}


def _list_value(message: struct_pb2.ListValue) -> list[Any]:
    return [_value(item) for item in message.values]
