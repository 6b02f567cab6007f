"""The whole contract as compiled descriptors: every service of protos/iot, by short name."""

from __future__ import annotations

import importlib
from functools import cache

from google.protobuf.descriptor import ServiceDescriptor

from services.runtime.settings import SERVICE_NAMES


@cache
def service_descriptor(name: str) -> ServiceDescriptor:
    """The gRPC service of `iot.<name>.v1`, e.g. service_descriptor("device") → iot.device.v1.DeviceService."""
    module = importlib.import_module(f"iot.{name}.v1.{name}_pb2")
    (descriptor,) = module.DESCRIPTOR.services_by_name.values()
    return descriptor  # type: ignore[no-any-return]


def all_service_descriptors() -> list[ServiceDescriptor]:
    return [service_descriptor(name) for name in SERVICE_NAMES]
