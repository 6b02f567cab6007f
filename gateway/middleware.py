"""Around every HTTP request: the request id, one JSON access-log line, a last-resort 500 and, when tracing
is on, the request's server span.

A plain ASGI middleware (no BaseHTTPMiddleware task hop): it wraps `send` to add X-Request-Id and to see
the status, so it works the same for transcoded routes, the docs and the health endpoints.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import HttpError, error_body, internal_error
from gateway.routes import HttpRoute
from gateway.transcode import ROUTE_SCOPE_KEY, send_json
from services.runtime.context import request_id_var
from services.runtime.otel import hooks as otel

if TYPE_CHECKING:
    from opentelemetry.trace import Span

access_log = logging.getLogger("iotmon.http")
log = logging.getLogger("iotmon.gateway")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_STATUS_CODES = {404: "ROUTE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


def request_id_from(scope: Scope) -> str:
    """The client's X-Request-Id when it is safe to log and echo, else a fresh one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return "req-" + secrets.token_hex(8)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp):
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        reset_token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode())
        status = 0
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        with _request_span(scope) as span:
            try:
                await self._app(scope, receive, send_with_request_id)
            except Exception:
                log.exception("unhandled error", extra={"method": scope["method"], "path": scope["path"]})
                if status == 0:
                    await send_json(send_with_request_id, 500, error_body(internal_error(), request_id))
            finally:
                _log_request(scope, status, started, request_id)
                if span is not None:
                    _name_span(span, scope, status)
                request_id_var.reset(reset_token)


def _log_request(scope: Scope, status: int, started: float, request_id: str) -> None:
    fields = {
        "method": scope["method"],
        "path": _template(scope),
        "status": status,
        "durationMs": round((time.perf_counter() - started) * 1000, 3),
        "requestId": request_id,
    }
    route = scope.get(ROUTE_SCOPE_KEY)
    if isinstance(route, HttpRoute):
        fields["rpc"] = route.rpc_path
    access_log.info("http", extra=fields)


def _request_span(scope: Scope) -> AbstractContextManager[Span | None]:
    """The request's server span when tracing is on (services/runtime/otel): the upstream call, the log
    lines and any error of the request belong to it."""
    if otel.tracing is None:
        return nullcontext()
    return otel.tracing.http_server(scope["method"], scope["headers"])


def _name_span(span: Span, scope: Scope, status: int) -> None:
    """Named by the route template, as the access log is (ids stay out of span names)."""
    assert otel.tracing is not None
    route = _template(scope)
    otel.tracing.http_done(span, scope["method"], None if route == "-" else route, status)


def _template(scope: Scope) -> str:
    """The route template, not the concrete path: ids stay out of the log and requests group by route."""
    route = scope.get(ROUTE_SCOPE_KEY)
    if isinstance(route, HttpRoute):
        return route.template
    fixed = scope.get("route")
    if isinstance(fixed, BaseRoute):
        return str(getattr(fixed, "path", "-"))
    return "-"  # no route matched


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (static files, the fixed routes) in the §8.2 shape."""
    assert isinstance(exc, HTTPException)
    code = _STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
    headers = dict(exc.headers or {})
    details = {"allowed": headers["Allow"].split(", ")} if "Allow" in headers else {}
    error = HttpError(exc.status_code, code, exc.detail, details, headers)
    return Response(
        error_body(error, request_id_var.get()),
        status_code=exc.status_code,
        headers=error.headers,
        media_type="application/json",
    )
