"""Server interceptors: access log (outermost), error mapping, then authentication.

Each one runs code around the handler, so servicers stay free of try/except and of metadata parsing.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import grpc
import grpc.aio

from services.kernel.errors import DomainError, Unavailable
from services.runtime.auth import TokenVerifier, bearer_token
from services.runtime.context import caller_var, request_id_var, token_var, traceparent_var
from services.runtime.status import internal_status, to_status

log = logging.getLogger("iotmon.rpc")

Around = Callable[[str, grpc.aio.ServicerContext[Any, Any]], AbstractAsyncContextManager[None]]


def _metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode()
    return None


def _wrap(handler: Any, method: str, around: Around) -> Any:
    """Return a handler that runs `around(method, context)` around the original behaviour.

    Typed loosely: the grpc stubs describe synchronous handlers, these are the grpc.aio ones.
    """
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        unary_unary = handler.unary_unary

        async def uu(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            async with around(method, context):
                return await unary_unary(request, context)

        return grpc.unary_unary_rpc_method_handler(uu, **kwargs)
    if handler.stream_unary is not None:
        stream_unary = handler.stream_unary

        async def su(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            async with around(method, context):
                return await stream_unary(requests, context)

        return grpc.stream_unary_rpc_method_handler(su, **kwargs)
    if handler.unary_stream is not None:
        unary_stream = handler.unary_stream

        async def us(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            async with around(method, context):
                async for item in unary_stream(request, context):
                    yield item

        return grpc.unary_stream_rpc_method_handler(us, **kwargs)
    stream_stream = handler.stream_stream

    async def ss(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        async with around(method, context):
            async for item in stream_stream(requests, context):
                yield item

    return grpc.stream_stream_rpc_method_handler(ss, **kwargs)


class _AroundInterceptor(grpc.aio.ServerInterceptor):
    """Base: wraps every handler except the standard gRPC services (health, reflection)."""

    def around(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith("/grpc."):
            return handler
        return _wrap(handler, method, self.around)


class AccessLogInterceptor(_AroundInterceptor):
    """Sets the request id and writes one JSON line per call: method, code, duration, caller."""

    @asynccontextmanager
    async def around(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
        request_id_var.set(_metadata(context, "x-request-id") or "req-" + secrets.token_hex(8))
        traceparent_var.set(_metadata(context, "traceparent"))
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            yield
        except BaseException:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        finally:
            caller = caller_var.get()
            log.log(
                logging.ERROR if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) else logging.INFO,
                "rpc",
                extra={
                    "method": method,
                    "code": code.name,
                    "durationMs": round((time.perf_counter() - started) * 1000, 3),
                    "userId": caller.user_id if caller else None,
                    "organizationId": caller.organization_id if caller else None,
                },
            )


class ErrorInterceptor(_AroundInterceptor):
    """Maps DomainError to its status code with ErrorInfo details; hides everything unexpected as INTERNAL."""

    @asynccontextmanager
    async def around(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
        try:
            yield
        except DomainError as error:
            await context.abort_with_status(to_status(error))
        except grpc.aio.AbortError:
            raise
        except grpc.aio.AioRpcError as error:
            # A service this one depends on failed; say so without leaking its internals.
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                await context.abort_with_status(to_status(Unavailable("a dependency did not answer")))
            log.error("downstream call failed", extra={"method": method, "downstream": error.code().name})
            await context.abort_with_status(internal_status())
        except Exception:
            log.exception("unhandled error", extra={"method": method})
            await context.abort_with_status(internal_status())


class AuthInterceptor(_AroundInterceptor):
    """Verifies the bearer token in `authorization` metadata and exposes the Caller to the servicer."""

    def __init__(self, verifier: TokenVerifier, anonymous_methods: frozenset[str] = frozenset()):
        self._verifier = verifier
        self._anonymous = anonymous_methods

    @asynccontextmanager
    async def around(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
        if method not in self._anonymous:
            token = bearer_token(_metadata(context, "authorization"))
            caller_var.set(self._verifier.verify(token))
            token_var.set(token)
        yield


def standard_interceptors(verifier: TokenVerifier, anonymous: frozenset[str]) -> list[grpc.aio.ServerInterceptor]:
    """The order matters: the first one is outermost."""
    return [AccessLogInterceptor(), ErrorInterceptor(), AuthInterceptor(verifier, anonymous)]
