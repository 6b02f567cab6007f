"""A test-only proto service, built in memory, for rule shapes our real protos do not use (nested path
fields, typed path variables, conflicting or unsupported templates)."""

from __future__ import annotations

from google.api import annotations_pb2, httpbody_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, timestamp_pb2
from google.protobuf.descriptor import FileDescriptor, ServiceDescriptor

from gateway.catalog import UpstreamService

FieldProto = descriptor_pb2.FieldDescriptorProto
PACKAGE = "tests.gateway.v1"
# The file imports timestamp.proto, which must be in the pool first.
_DEPENDENCIES = (annotations_pb2, httpbody_pb2, timestamp_pb2)


def _field(message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int, **extra: object) -> None:
    json_name = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
    message.field.add(
        name=name,
        number=number,
        type=kind,  # type: ignore[arg-type]
        label=extra.pop("label", FieldProto.LABEL_OPTIONAL),  # type: ignore[arg-type]
        json_name=json_name,
        **extra,  # type: ignore[arg-type]
    )


def _file(name: str, rules: dict[str, dict[str, str]]) -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name=f"tests/gateway/{name}.proto",
        package=f"{PACKAGE}.{name}",
        syntax="proto3",
        dependency=["google/api/annotations.proto", "google/api/httpbody.proto", "google/protobuf/timestamp.proto"],
    )
    prefix = f".{PACKAGE}.{name}"
    thing = file.message_type.add(name="Thing")
    _field(thing, "id", 1, FieldProto.TYPE_STRING)
    _field(thing, "shelf", 2, FieldProto.TYPE_STRING)
    _field(thing, "labels", 3, FieldProto.TYPE_STRING, label=FieldProto.LABEL_REPEATED)
    request = file.message_type.add(name="ThingRequest")
    _field(request, "thing", 1, FieldProto.TYPE_MESSAGE, type_name=f"{prefix}.Thing")
    _field(request, "version", 2, FieldProto.TYPE_INT32)
    _field(request, "ratio", 3, FieldProto.TYPE_DOUBLE)
    _field(request, "enabled", 4, FieldProto.TYPE_BOOL, proto3_optional=True, oneof_index=0)
    _field(request, "since", 5, FieldProto.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    _field(request, "big", 6, FieldProto.TYPE_INT64)
    request.oneof_decl.add(name="_enabled")
    service = file.service.add(name="ThingService")
    for method_name, rule in rules.items():
        method = service.method.add(
            name=method_name, input_type=f"{prefix}.ThingRequest", output_type=f"{prefix}.Thing"
        )
        http = method.options.Extensions[annotations_pb2.http]
        for key, value in rule.items():
            if key == "input":
                method.input_type = value
            elif key == "custom":
                http.custom.kind, http.custom.path = value.split(" ", 1)
            elif key == "additional":
                verb, path = value.split(" ", 1)
                setattr(http.additional_bindings.add(), verb, path)
            else:
                setattr(http, key, value)
    return file


def thing_service(name: str, rules: dict[str, dict[str, str]]) -> UpstreamService:
    """A ThingService in package tests.gateway.v1.<name>, one method per rule (e.g. {"get": "/things"}).

    Besides HttpRule's own fields a rule may hold "custom": "KIND /path", "additional": "verb /path" and
    "input": ".full.MessageName" (another request type than ThingRequest).
    """
    pool = descriptor_pool.Default()
    try:
        file: FileDescriptor = pool.FindFileByName(f"tests/gateway/{name}.proto")
    except KeyError:
        file = pool.AddSerializedFile(_file(name, rules).SerializeToString())  # type: ignore[assignment]
    descriptor: ServiceDescriptor = file.services_by_name["ThingService"]
    return UpstreamService("thing", descriptor)
