"""Proto comments by element full name, from gen/iot/descriptors.binpb (a FileDescriptorSet with source info).

The generated _pb2 modules drop comments; the descriptor set written by scripts/gen_protos.py keeps them.
Source locations are paths of field numbers into FileDescriptorProto (4 = message_type, 2 = field, …).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator

from google.protobuf import descriptor_pb2

_MESSAGE, _ENUM, _SERVICE = 4, 5, 6
_FIELD, _NESTED_MESSAGE, _NESTED_ENUM = 2, 3, 4
_ENUM_VALUE, _METHOD = 2, 2

Path = tuple[int, ...]


def load_comments(resource: str = "descriptors.binpb") -> dict[str, str]:
    data = (importlib.resources.files("iot") / resource).read_bytes()
    return comments_of(descriptor_pb2.FileDescriptorSet.FromString(data))


def comments_of(descriptor_set: descriptor_pb2.FileDescriptorSet) -> dict[str, str]:
    comments: dict[str, str] = {}
    for file in descriptor_set.file:
        names = dict(_element_paths(file))
        for location in file.source_code_info.location:
            name = names.get(tuple(location.path))
            text = _clean(location.leading_comments or location.trailing_comments)
            if name and text:
                comments[name] = text
    return comments


def _clean(comment: str) -> str:
    return " ".join(line.strip() for line in comment.strip().splitlines())


def _element_paths(file: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[Path, str]]:
    package = file.package
    for index, message in enumerate(file.message_type):
        yield from _message_paths(message, (_MESSAGE, index), f"{package}.{message.name}")
    for index, enum in enumerate(file.enum_type):
        yield from _enum_paths(enum, (_ENUM, index), f"{package}.{enum.name}")
    for index, service in enumerate(file.service):
        name = f"{package}.{service.name}"
        yield (_SERVICE, index), name
        for m_index, method in enumerate(service.method):
            yield (_SERVICE, index, _METHOD, m_index), f"{name}.{method.name}"


def _message_paths(message: descriptor_pb2.DescriptorProto, path: Path, name: str) -> Iterator[tuple[Path, str]]:
    yield path, name
    for index, field in enumerate(message.field):
        yield (*path, _FIELD, index), f"{name}.{field.name}"
    for index, nested in enumerate(message.nested_type):
        yield from _message_paths(nested, (*path, _NESTED_MESSAGE, index), f"{name}.{nested.name}")
    for index, enum in enumerate(message.enum_type):
        yield from _enum_paths(enum, (*path, _NESTED_ENUM, index), f"{name}.{enum.name}")


def _enum_paths(enum: descriptor_pb2.EnumDescriptorProto, path: Path, name: str) -> Iterator[tuple[Path, str]]:
    yield path, name
    for index, value in enumerate(enum.value):
        yield (*path, _ENUM_VALUE, index), f"{name}.{value.name}"
