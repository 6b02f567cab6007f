"""JSON Schemas (OpenAPI 3.1 dialect) for protobuf messages, in the JSON shape json_format produces.

Messages become components named by full name (iot.device.v1.Device) with JSON property names;
well-known types are inlined in their JSON form (Timestamp → date-time string, Struct → object, Value →
any, ListValue → array). `required` lists the fields without presence: a response always contains them
(the gateway prints empty ones too); in a request an omitted one takes its zero value.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway.fields import is_map, is_repeated

Schema = dict[str, Any]
COMPONENT_PREFIX = "#/components/schemas/"

_INT32 = {"type": "integer", "format": "int32"}
_INT64 = {"type": "integer", "format": "int64"}
_UINT32 = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
_UINT64 = {"type": "integer", "minimum": 0}
_SCALARS: dict[int, Schema] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}
WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d{1,9})?s$"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
    "google.protobuf.DoubleValue": _SCALARS[FieldDescriptor.TYPE_DOUBLE],
    "google.protobuf.FloatValue": _SCALARS[FieldDescriptor.TYPE_FLOAT],
    "google.protobuf.Int64Value": _INT64,
    "google.protobuf.UInt64Value": _UINT64,
    "google.protobuf.Int32Value": _INT32,
    "google.protobuf.UInt32Value": _UINT32,
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte"},
}


def has_presence(field: FieldDescriptor) -> bool:
    """Whether json_format may leave the field out: optional scalars and singular messages."""
    return not is_repeated(field) and (field.type == FieldDescriptor.TYPE_MESSAGE or field.has_presence)


class SchemaBuilder:
    """Collects a component per message reached; `comments` supplies descriptions by full name."""

    def __init__(self, comments: dict[str, str]):
        self._comments = comments
        self.components: dict[str, Schema] = {}

    def message(self, message: Descriptor) -> Schema:
        """A reference to the message's component (or the inline form of a well-known type)."""
        if message.full_name in WELL_KNOWN:
            return dict(WELL_KNOWN[message.full_name])
        if message.full_name not in self.components:
            self.components[message.full_name] = {}  # placeholder: breaks cycles of recursive messages
            self.components[message.full_name] = self._object(message)
        return {"$ref": COMPONENT_PREFIX + message.full_name}

    def object_of(self, message: Descriptor, *, skip: frozenset[str] = frozenset(), closed: bool = False) -> Schema:
        """An inline object schema for the message (used for request bodies without path fields)."""
        schema = self._object(message, skip=skip)
        schema.pop("required", None)
        if closed:
            schema["additionalProperties"] = False
        return schema

    def field(self, field: FieldDescriptor) -> Schema:
        """The schema of a field's JSON value, with the field's comment as description."""
        schema = self._value(field)
        description = self._comments.get(field.full_name)
        if description:
            schema = {**schema, "description": description}
        return schema

    def leaf(self, field: FieldDescriptor) -> Schema:
        """The schema of one element of a field (the item of a repeated field)."""
        if field.message_type is not None:
            return self.message(field.message_type)
        if field.enum_type is not None:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        return dict(_SCALARS[field.type])

    def _value(self, field: FieldDescriptor) -> Schema:
        if field.message_type is not None and is_map(field):
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.leaf(value)}
        if is_repeated(field):
            return {"type": "array", "items": self.leaf(field)}
        return self.leaf(field)

    def _object(self, message: Descriptor, skip: frozenset[str] = frozenset()) -> Schema:
        fields = [f for f in message.fields if f.name not in skip]
        schema: Schema = {"type": "object", "properties": {f.json_name: self.field(f) for f in fields}}
        required = [f.json_name for f in fields if not has_presence(f)]
        if required:
            schema["required"] = required
        description = self._comments.get(message.full_name)
        if description:
            schema["description"] = description
        return schema
