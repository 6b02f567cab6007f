"""The compiled renderer must print exactly what json_format prints, for every message the routes answer."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.catalog import load_services
from gateway.render import JsonRenderer, message_to_dict
from gateway.routes import build_routes
from tests.unit.gateway.synthetic import thing_service

SAMPLES: dict[int, object] = {
    FieldDescriptor.TYPE_STRING: "text é",
    FieldDescriptor.TYPE_BOOL: True,
    FieldDescriptor.TYPE_INT32: -42,
    FieldDescriptor.TYPE_INT64: 2**60 + 1,  # beyond a double: json_format quotes it
    FieldDescriptor.TYPE_DOUBLE: 23.5,
    FieldDescriptor.TYPE_BYTES: b"\x00\xffbin",
}


def messages_of_routes() -> Iterator[Descriptor]:
    seen: set[str] = set()
    pending = [r.method.output_type for r in build_routes(load_services())]
    pending.append(thing_service("query", {"ListThings": {"get": "/things"}}).descriptor.methods[0].input_type)
    while pending:
        descriptor = pending.pop()
        if descriptor.full_name in seen or descriptor.GetOptions().map_entry:
            continue
        seen.add(descriptor.full_name)
        yield descriptor
        pending.extend(f.message_type for f in descriptor.fields if f.message_type is not None)


def fill(message: Message, depth: int = 0) -> None:
    """Set every field to something that is not its default, nested messages included."""
    if message.DESCRIPTOR.full_name == "google.protobuf.Struct":
        message.update({"n": 45, "f": 23.5, "s": "x", "b": False, "z": None, "l": [1, "a", {"k": []}], "o": {"p": 1}})  # type: ignore[attr-defined]
        return
    if message.DESCRIPTOR.full_name == "google.protobuf.Value":
        message.struct_value.update({"nested": [True, 2.5, None]})  # type: ignore[attr-defined]
        return
    if message.DESCRIPTOR.full_name == "google.protobuf.ListValue":
        message.extend([1, "a", {"k": 2}, [None]])  # type: ignore[attr-defined]
        return
    if message.DESCRIPTOR.full_name == "google.protobuf.Timestamp":
        message.FromJsonString("2025-11-15T10:05:00.123Z")  # type: ignore[attr-defined]
        return
    for field in message.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            fill_map(message, field, depth)
        elif field.message_type is not None:
            if depth < 3:
                targets = (
                    [getattr(message, field.name).add() for _ in range(2)]
                    if field.is_repeated
                    else [getattr(message, field.name)]
                )
                for target in targets:
                    fill(target, depth + 1)
        elif field.is_repeated:
            getattr(message, field.name).extend([SAMPLES[field.type]] * 2)
        else:
            setattr(message, field.name, SAMPLES[field.type])


def fill_map(message: Message, field: FieldDescriptor, depth: int) -> None:
    value_field = field.message_type.fields_by_name["value"]
    mapping = getattr(message, field.name)
    if value_field.message_type is not None:
        fill(mapping["k"], depth + 1)
    else:
        mapping["k"] = SAMPLES[value_field.type]


DESCRIPTORS = list(messages_of_routes())


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=lambda d: d.full_name)
def test_compiled_renderer_equals_json_format(descriptor: Descriptor) -> None:
    renderer = JsonRenderer()
    message_class = message_factory.GetMessageClass(descriptor)
    empty, full = message_class(), message_class()
    fill(full)
    for message in (empty, full):
        assert orjson.dumps(renderer.to_dict(message)) == orjson.dumps(message_to_dict(message))


def test_non_finite_numbers_print_as_json_format_does() -> None:
    [route] = build_routes([thing_service("query", {"ListThings": {"get": "/things"}})])
    renderer = JsonRenderer()
    for value in (float("nan"), float("inf"), float("-inf")):
        message = route.request_class(ratio=value)  # type: ignore[call-arg]
        assert renderer.to_dict(message) == message_to_dict(message)


def test_every_route_message_was_checked() -> None:
    names = {d.full_name for d in DESCRIPTORS}
    assert {"iot.device.v1.Device", "iot.identity.v1.User", "google.protobuf.Struct"} <= names
