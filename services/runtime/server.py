"""A grpc.aio server with the standard interceptors, health checking and reflection."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.runtime.auth import TokenVerifier
from services.runtime.interceptors import standard_interceptors

log = logging.getLogger("iotmon.server")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SERVER_OPTIONS = [
    # Without this gRPC sets SO_REUSEPORT and a second process would silently share a taken port.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


@dataclass(frozen=True)
class ServiceRegistration:
    """One gRPC service to serve: its descriptor, the generated add_*_to_server function and the servicer."""

    descriptor: ServiceDescriptor
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any


@dataclass
class RunningServer:
    server: grpc.aio.Server
    address: str
    health: health.aio.HealthServicer
    services: list[str]

    async def stop(self, grace_seconds: float) -> None:
        """Report NOT_SERVING first so load balancers move away, then let in-flight calls finish."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_seconds)


@dataclass
class BoundServer:
    """A server holding its port but not serving yet: `iotmon up` binds every service first, so that
    each bootstrap already knows the addresses of its peers when ports are picked freely."""

    server: grpc.aio.Server
    address: str

    @classmethod
    def bind(cls, *, host: str, port: int, verifier: TokenVerifier) -> BoundServer:
        server = grpc.aio.server(interceptors=standard_interceptors(verifier), options=SERVER_OPTIONS)
        bound = server.add_insecure_port(f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot bind gRPC port {host}:{port}")
        return cls(server, f"{host}:{bound}")

    async def start(self, registrations: list[ServiceRegistration]) -> RunningServer:
        for registration in registrations:
            registration.add_to_server(registration.servicer, self.server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, self.server)
        names = [r.descriptor.full_name for r in registrations]
        reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server)
        await self.server.start()
        for name in ["", *names]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("grpc server started", extra={"address": self.address, "services": names})
        return RunningServer(self.server, self.address, health_servicer, names)


async def start_grpc_server(
    registrations: list[ServiceRegistration],
    *,
    host: str,
    port: int,
    verifier: TokenVerifier,
) -> RunningServer:
    return await BoundServer.bind(host=host, port=port, verifier=verifier).start(registrations)
