"""gRPC channels to other services that forward the caller's token, request id and trace context."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc
import grpc.aio

from services.kernel.errors import Unavailable
from services.runtime.context import request_id_var, token_var, traceparent_var
from services.runtime.otel import hooks as otel
from services.runtime.service_tokens import ServiceTokens

# A peer that did not answer (down, or not in time): worth trying again later, unlike its refusals.
UNREACHABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
]


def forwarded_metadata(service_tokens: ServiceTokens | None = None) -> list[tuple[str, str]]:
    """Metadata that carries the request's context to the next hop, and the caller's token — or, when the
    channel acts for the platform, the service's own token."""
    metadata: list[tuple[str, str]] = []
    token = service_tokens.token() if service_tokens else token_var.get()
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    request_id = request_id_var.get()
    if request_id:
        metadata.append(("x-request-id", request_id))
    traceparent = traceparent_var.get()
    if traceparent:
        metadata.append(("traceparent", traceparent))
    return metadata


def _with_forwarded(
    details: grpc.aio.ClientCallDetails,
    service_tokens: ServiceTokens | None,
    trace_context: Mapping[str, str] | None = None,
) -> grpc.aio.ClientCallDetails:
    extra = forwarded_metadata(service_tokens)
    if trace_context:  # the client span's context replaces the traceparent forwarded as is
        extra = [*trace_context.items(), *((k, v) for k, v in extra if k not in trace_context)]
    if not extra:
        return details
    present = {k for k, _ in details.metadata or ()}
    metadata = grpc.aio.Metadata(*(details.metadata or ()), *((k, v) for k, v in extra if k not in present))
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _ForwardUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, service_tokens: ServiceTokens | None):
        self._service_tokens = service_tokens

    async def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        tracing = otel.tracing
        if tracing is None:
            return await continuation(_with_forwarded(details, self._service_tokens), request)
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        with tracing.rpc_client(method) as span:
            call = await continuation(_with_forwarded(details, self._service_tokens, span.carrier), request)
            code = await call.code()  # the span lasts until the answer, as the caller waits for it
            span.code(code.value[0], code.name)
            return call


class _ForwardStreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, service_tokens: ServiceTokens | None):
        self._service_tokens = service_tokens

    async def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        # No client span (the stream outlives this call); the callee's span joins the running trace.
        tracing = otel.tracing
        trace_context = tracing.context_carrier() if tracing is not None else None
        return await continuation(_with_forwarded(details, self._service_tokens, trace_context), requests)


def open_channel(address: str, *, service_tokens: ServiceTokens | None = None) -> grpc.aio.Channel:
    """A channel to another service, inside the cluster (NetworkPolicy guards the network).

    Without `service_tokens` calls carry the current caller's token (acting for the user); with them, the
    service's own token (acting for the platform: internal RPCs, device ingest with no user behind it).
    """
    interceptors = [_ForwardUnaryUnary(service_tokens), _ForwardStreamUnary(service_tokens)]
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=interceptors)


@contextmanager
def unavailable_when_unreachable(message: str) -> Iterator[None]:
    """Raise Unavailable(message) for a call to a peer that did not answer; its other errors pass unchanged."""
    try:
        yield
    except grpc.aio.AioRpcError as error:
        if error.code() in UNREACHABLE:
            raise Unavailable(message) from None
        raise
