"""Reads the project's method options (iot.common.v1.options) from compiled descriptors."""

from __future__ import annotations

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from iot.common.v1 import options_pb2


def method_path(method: MethodDescriptor) -> str:
    """The gRPC path of a method: /package.Service/Method."""
    return f"/{method.containing_service.full_name}/{method.name}"


def allows_anonymous(method: MethodDescriptor) -> bool:
    return bool(method.GetOptions().Extensions[options_pb2.allow_anonymous])


def success_code(method: MethodDescriptor) -> int:
    return int(method.GetOptions().Extensions[options_pb2.http_success_code]) or 200


def anonymous_methods(services: list[ServiceDescriptor]) -> frozenset[str]:
    return frozenset(method_path(m) for s in services for m in s.methods if allows_anonymous(m))


def internal_methods(services: list[ServiceDescriptor]) -> frozenset[str]:
    return frozenset(
        method_path(m) for s in services for m in s.methods if m.GetOptions().Extensions[options_pb2.internal_only]
    )
