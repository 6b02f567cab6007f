"""Channels to the services, one unary callable per routed RPC, and their health checks.

Plain grpc.aio channels with the runtime's channel options: the gateway passes the caller's metadata
explicitly on each call, so it does not need the forwarding interceptors of services.runtime.clients
(client interceptors cost a task switch per call on the hottest path of the mesh).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.catalog import UpstreamService
from gateway.errors import HttpError
from gateway.routes import HttpRoute
from services.runtime.clients import CHANNEL_OPTIONS
from services.runtime.otel import hooks as otel

# Come back quickly when a restarted service is up again (gRPC's default backoff grows to two minutes).
GATEWAY_CHANNEL_OPTIONS = [*CHANNEL_OPTIONS, ("grpc.max_reconnect_backoff_ms", 5_000)]

Metadata = Sequence[tuple[str, str]]


class Upstreams:
    """Opened in the app's lifespan; until then (and after close) every call answers 503."""

    def __init__(self, services: Iterable[UpstreamService], addresses: dict[str, str], timeout_seconds: float):
        self._services = list(services)
        self._addresses = addresses
        self._timeout = timeout_seconds
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._calls: dict[str, grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}

    def address_of(self, service: str) -> str:
        return self._addresses[service]

    async def open(self, routes: Iterable[HttpRoute]) -> None:
        # Services that share an address share a channel (and its HTTP/2 connection).
        for address in sorted(set(self._addresses.values())):
            self._channels[address] = grpc.aio.insecure_channel(address, options=GATEWAY_CHANNEL_OPTIONS)
        for route in routes:
            channel = self._channels[self._addresses[route.service.name]]
            self._calls[route.rpc_path] = channel.unary_unary(
                route.rpc_path,
                request_serializer=route.request_class.SerializeToString,
                response_deserializer=route.response_class.FromString,
            )

    async def close(self) -> None:
        self._calls.clear()
        channels, self._channels = list(self._channels.values()), {}
        await asyncio.gather(*(channel.close() for channel in channels))

    async def call(self, route: HttpRoute, request: Message, metadata: Metadata) -> Message:
        call = self._calls.get(route.rpc_path)
        if call is None:
            raise HttpError(503, "UPSTREAM_UNAVAILABLE", "the gateway is not connected to its services")
        if otel.tracing is None:
            reply: Message = await call(request, metadata=metadata, timeout=self._timeout)
            return reply
        with otel.tracing.rpc_client(route.rpc_path) as span:
            # The client span's context replaces the traceparent the client sent (the request span's parent).
            traced = [(k, v) for k, v in metadata if k not in span.carrier] + list(span.carrier.items())
            try:
                reply = await call(request, metadata=traced, timeout=self._timeout)
            except grpc.aio.AioRpcError as error:
                span.code(error.code().value[0], error.code().name)
                raise
            span.code(0, "OK")
            return reply

    async def health(self, timeout_seconds: float) -> dict[str, str]:
        """The grpc.health.v1 status of every upstream service, by service name ("device": "SERVING")."""
        checks = [self._check(service, timeout_seconds) for service in self._services]
        statuses = await asyncio.gather(*checks)
        return dict(zip((s.name for s in self._services), statuses, strict=True))

    async def _check(self, service: UpstreamService, timeout_seconds: float) -> str:
        channel = self._channels.get(self._addresses[service.name])
        if channel is None:
            return "NOT_CONNECTED"
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=service.descriptor.full_name)
        try:
            reply = await stub.Check(request, timeout=timeout_seconds)
        except grpc.aio.AioRpcError as error:
            return str(error.code().name)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
