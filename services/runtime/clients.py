"""gRPC channels to other services that forward the caller's token, request id and trace context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio

from services.runtime.context import request_id_var, token_var, traceparent_var

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
]


def forwarded_metadata() -> list[tuple[str, str]]:
    """Metadata that carries the current request's identity and context to the next hop."""
    metadata: list[tuple[str, str]] = []
    token = token_var.get()
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    request_id = request_id_var.get()
    if request_id:
        metadata.append(("x-request-id", request_id))
    traceparent = traceparent_var.get()
    if traceparent:
        metadata.append(("traceparent", traceparent))
    return metadata


def _with_forwarded(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    extra = forwarded_metadata()
    if not extra:
        return details
    present = {k for k, _ in details.metadata or ()}
    metadata = grpc.aio.Metadata(*(details.metadata or ()), *((k, v) for k, v in extra if k not in present))
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _ForwardUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return await continuation(_with_forwarded(details), request)


class _ForwardStreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return await continuation(_with_forwarded(details), requests)


def open_channel(address: str) -> grpc.aio.Channel:
    """An insecure channel inside the cluster; the mesh (or NetworkPolicy) guards the network."""
    return grpc.aio.insecure_channel(
        address, options=CHANNEL_OPTIONS, interceptors=[_ForwardUnaryUnary(), _ForwardStreamUnary()]
    )
