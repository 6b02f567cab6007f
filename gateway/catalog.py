"""Which gRPC services the gateway fronts, read from the generated modules iot.<svc>.v1.<svc>_pb2."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from google.protobuf.descriptor import ServiceDescriptor

from services.runtime.settings import SERVICE_NAMES


@dataclass(frozen=True)
class UpstreamService:
    """One gRPC service and the name of the process serving it ("device" → settings.device_addr)."""

    name: str
    descriptor: ServiceDescriptor


def load_services(names: tuple[str, ...] = SERVICE_NAMES) -> list[UpstreamService]:
    services: list[UpstreamService] = []
    for name in names:
        module = importlib.import_module(f"iot.{name}.v1.{name}_pb2")
        for descriptor in module.DESCRIPTOR.services_by_name.values():
            services.append(UpstreamService(name, descriptor))
    return services
