"""What every service's bootstrap returns, and the placeholder for services not built yet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor

from services.kernel.errors import DomainError, ErrorKind
from services.runtime.bus import EventBus
from services.runtime.server import ServiceRegistration
from services.runtime.settings import RuntimeSettings


@dataclass
class BuildContext:
    """What a bootstrap may use: settings, the bus, and a place to register resources to close."""

    settings: RuntimeSettings
    bus: EventBus
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)


@dataclass
class BuiltService:
    name: str
    registrations: list[ServiceRegistration]
    # Background work the service runs besides answering RPCs (consumers, schedulers).
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)


Bootstrap = Callable[[BuildContext], Awaitable[BuiltService]]


class NotImplementedYet(DomainError):
    kind = ErrorKind.NOT_IMPLEMENTED
    default_reason = "NOT_IMPLEMENTED"


def unimplemented_registration(descriptor: ServiceDescriptor) -> ServiceRegistration:
    """Serve a service whose RPCs all answer UNIMPLEMENTED (reason NOT_IMPLEMENTED) until it is built.

    It still appears in reflection and health checks, so the mesh and the gateway are complete.
    """
    handlers: dict[str, Any] = {}
    for method in descriptor.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        handlers[method.name] = _unimplemented_handler(method.full_name, method, request_class, response_class)
    generic = grpc.method_handlers_generic_handler(descriptor.full_name, handlers)

    def add_to_server(_: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((generic,))

    return ServiceRegistration(descriptor, add_to_server, None)


def _unimplemented_handler(full_name: str, method: Any, request_class: Any, response_class: Any) -> Any:
    async def refuse(request: Any, context: Any) -> Any:
        raise NotImplementedYet(f"{full_name} is not implemented yet", details={"method": full_name})

    kwargs = {"request_deserializer": request_class.FromString, "response_serializer": response_class.SerializeToString}
    if method.client_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse, **kwargs)
    return grpc.unary_unary_rpc_method_handler(refuse, **kwargs)
