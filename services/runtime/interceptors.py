"""The server interceptor every service runs: request context and access log, error mapping, authentication.

One interceptor with three steps rather than three interceptors: grpc.aio awaits every interceptor on every
call, and this one wraps each method's handler once and caches it, so a call costs one coroutine and a dict
lookup on top of the handler (bench/gateway_overhead.py measured three separate ones at ~15 % of a call).
Servicers stay free of try/except and of metadata parsing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NoReturn

import grpc
import grpc.aio

from services.kernel.errors import DomainError, PermissionDenied, Unavailable
from services.runtime.auth import TokenVerifier, bearer_token
from services.runtime.context import caller_var, request_id_var, token_var, traceparent_var
from services.runtime.contract import all_service_descriptors
from services.runtime.otel import hooks as otel
from services.runtime.proto_options import anonymous_methods, internal_methods
from services.runtime.status import internal_status, to_status

log = logging.getLogger("iotmon.rpc")

Context = grpc.aio.ServicerContext[Any, Any]


def _metadata(context: Context, key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode()
    return None


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        verifier: TokenVerifier,
        anonymous_methods: frozenset[str] = frozenset(),
        internal_methods: frozenset[str] = frozenset(),
    ):
        self._verifier = verifier
        self._anonymous = anonymous_methods
        self._internal = internal_methods
        self._wrapped: dict[str, Any] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            # Health and reflection are left alone: probes carry no token.
            if handler is None or method.startswith("/grpc."):
                return handler
            wrapped = self._wrapped[method] = self._wrap(handler, method)
        return wrapped

    # Step 1: request context; step 3: authentication. Both run before the handler.
    def _begin(self, method: str, context: Context) -> None:
        request_id_var.set(_metadata(context, "x-request-id") or "req-" + secrets.token_hex(8))
        if otel.tracing is None:  # traced, the server span set it to its own context
            traceparent_var.set(_metadata(context, "traceparent"))
        if method not in self._anonymous:
            token = bearer_token(_metadata(context, "authorization"))
            caller = self._verifier.verify(token)
            if method in self._internal and not caller.is_service:
                raise PermissionDenied(f"{method} is internal to the platform; users cannot call it")
            caller_var.set(caller)
            token_var.set(token)

    # Step 2: error mapping — DomainError to its status with ErrorInfo details, anything unexpected to INTERNAL.
    async def _fail(self, method: str, context: Context, error: BaseException, started: float) -> NoReturn:
        if isinstance(error, DomainError):
            status = to_status(error)
        elif isinstance(error, grpc.aio.AbortError | asyncio.CancelledError):
            _access_log(method, context.code() or grpc.StatusCode.CANCELLED, started)
            raise error
        elif isinstance(error, grpc.aio.AioRpcError) and error.code() in _UNAVAILABLE:
            # A service this one depends on did not answer; say so without leaking its internals.
            status = to_status(Unavailable("a dependency did not answer"))
        else:
            log.error("unhandled error", exc_info=error, extra={"method": method})
            status = internal_status()
        _access_log(method, status.code, started)
        await context.abort_with_status(status)
        raise AssertionError("abort_with_status returns only by raising")  # pragma: no cover

    def _wrap(self, handler: Any, method: str) -> Any:
        """Typed loosely: the grpc stubs describe synchronous handlers, these are the grpc.aio ones."""
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary or handler.stream_unary:
            behaviour = handler.unary_unary or handler.stream_unary

            async def single(request: Any, context: Context) -> Any:
                started = time.perf_counter()
                with _server_span(method, context):
                    try:
                        self._begin(method, context)
                        response = await behaviour(request, context)
                    except BaseException as error:
                        await self._fail(method, context, error, started)
                    _access_log(method, grpc.StatusCode.OK, started)
                    return response

            factory = (
                grpc.unary_unary_rpc_method_handler if handler.unary_unary else grpc.stream_unary_rpc_method_handler
            )
            return factory(single, **kwargs)
        streaming = handler.unary_stream or handler.stream_stream

        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            started = time.perf_counter()
            with _server_span(method, context):
                try:
                    self._begin(method, context)
                    async for item in streaming(request, context):
                        yield item
                except BaseException as error:
                    await self._fail(method, context, error, started)
                _access_log(method, grpc.StatusCode.OK, started)

        factory = (
            grpc.unary_stream_rpc_method_handler if handler.unary_stream else grpc.stream_stream_rpc_method_handler
        )
        return factory(stream, **kwargs)


def _server_span(method: str, context: Context) -> AbstractContextManager[object]:
    """The call's server span when tracing is on (services/runtime/otel), else nothing at all."""
    tracing = otel.tracing
    if tracing is None:
        return _NO_SPAN
    return tracing.rpc_server(method, context.invocation_metadata() or ())


_NO_SPAN = nullcontext()
_UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_ERROR_CODES = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


def _access_log(method: str, code: grpc.StatusCode | int, started: float) -> None:
    """One JSON line per call: method, code, duration and caller (the request id comes from the context)."""
    code = code if isinstance(code, grpc.StatusCode) else _CODE_BY_VALUE.get(code, grpc.StatusCode.UNKNOWN)
    if otel.tracing is not None:
        otel.tracing.rpc_server_code(code.value[0], code.name)
    level = logging.ERROR if code in _ERROR_CODES else logging.INFO
    if not log.isEnabledFor(level):
        return
    caller = caller_var.get()
    log.log(
        level,
        "rpc",
        extra={
            "method": method,
            "code": code.name,
            "durationMs": round((time.perf_counter() - started) * 1000, 3),
            "userId": caller.user_id if caller else None,
            "organizationId": caller.organization_id if caller else None,
        },
    )


_CODE_BY_VALUE = {c.value[0]: c for c in grpc.StatusCode}


def standard_interceptors(verifier: TokenVerifier) -> list[grpc.aio.ServerInterceptor]:
    """Which methods are anonymous or internal is a property of the contract, so all of it is consulted."""
    services = all_service_descriptors()
    return [ServiceInterceptor(verifier, anonymous_methods(services), internal_methods(services))]
