"""The ASGI app behind every annotated route: HTTP request → request message → upstream → JSON response.

Per request: match the route, verify the token (401 before anything reaches a service), build the
message from body, path and query, call the service with the caller's metadata, render the reply.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import grpc.aio
import orjson
from google.protobuf.message import Message
from starlette.types import Receive, Scope, Send

from gateway.body import ClientDisconnected, fill_http_body, merge_body, parse_json, read_body
from gateway.errors import HttpError, error_body, from_domain_error, from_rpc_error, validation_error
from gateway.fields import FieldBinding, is_map, is_repeated
from gateway.render import JsonRenderer
from gateway.routes import HttpRoute, RouteMatch, RouteMatcher
from gateway.upstream import Metadata, Upstreams
from services.kernel.errors import DomainError
from services.runtime.auth import TokenVerifier, bearer_token
from services.runtime.context import request_id_var

# Where the matched route is left in the ASGI scope for the access log.
ROUTE_SCOPE_KEY = "iotmon.route"
_FORWARDED_HEADERS = {b"authorization", b"traceparent", b"content-length", b"content-type"}


class Transcoder:
    def __init__(
        self,
        routes: list[HttpRoute],
        upstreams: Upstreams,
        verifier: TokenVerifier,
        max_body_bytes: int,
    ):
        self._matcher = RouteMatcher(routes)
        self._upstreams = upstreams
        self._verifier = verifier
        self._max_body_bytes = max_body_bytes
        self._renderer = JsonRenderer()
        for route in routes:  # compile every reply's renderer now rather than on a first request
            self._renderer.for_type(route.method.output_type)

    @property
    def matcher(self) -> RouteMatcher:
        return self._matcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in _FORWARDED_HEADERS}
        route: HttpRoute | None = None
        extra_headers: dict[str, str] = {}
        try:
            match = self._matcher.match(scope["method"], _raw_path(scope))
            route = match.route
            scope[ROUTE_SCOPE_KEY] = route
            metadata = self._metadata(route, headers)
            request = await self._build_request(match, scope, receive, headers)
            reply = await self._upstreams.call(route, request, metadata)
            status, body = route.success_code, render(self._renderer, route, reply)
        except ClientDisconnected:
            return
        except (HttpError, DomainError, grpc.aio.AioRpcError) as failure:
            error = _http_error(failure, route)
            status, body, extra_headers = error.status, error_body(error, request_id_var.get()), error.headers
        await send_json(send, status, body, extra_headers)

    def _metadata(self, route: HttpRoute, headers: dict[str, str]) -> Metadata:
        metadata = [("x-request-id", request_id_var.get() or "")]
        authorization = headers.get("authorization")
        if not route.anonymous:
            token = bearer_token(authorization)
            self._verifier.verify(token)
            metadata.append(("authorization", f"Bearer {token}"))
        elif authorization and _is_metadata_safe(authorization):
            metadata.append(("authorization", authorization))
        traceparent = headers.get("traceparent")
        if traceparent and _is_metadata_safe(traceparent):
            metadata.append(("traceparent", traceparent))
        return metadata

    async def _build_request(
        self, match: RouteMatch, scope: Scope, receive: Receive, headers: dict[str, str]
    ) -> Message:
        route = match.route
        message = route.request_class()
        if route.body:
            raw = await read_body(receive, headers.get("content-length"), self._max_body_bytes)
            if route.raw_body:
                fill_http_body(route, raw, headers.get("content-type"), message)
            else:
                merge_body(route, parse_json(raw), message, match.values)
        for binding, text in zip(route.path_bindings, match.values, strict=True):
            apply_binding(binding, message, [text], binding.name)
        query_string: bytes = scope.get("query_string", b"")
        if query_string:
            apply_query(route, message, query_string)
        return message


def apply_query(route: HttpRoute, message: Message, query_string: bytes) -> None:
    """Fill the fields named by query parameters; unknown, repeated-once or malformed ones are a 400."""
    given: dict[str, tuple[str, list[str]]] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        binding = route.query.get(name)
        if binding is None:
            accepted = ", ".join(b.name for b in route.query_bindings) or "none"
            raise validation_error(name, f"unknown query parameter; accepted: {accepted}")
        given.setdefault(binding.name, (name, []))[1].append(value)
    for canonical, (spelled, texts) in given.items():
        binding = route.query[canonical]
        if len(texts) > 1 and not binding.repeated:
            raise validation_error(spelled, "may be given only once")
        apply_binding(binding, message, texts, spelled)


def apply_binding(binding: FieldBinding, message: Message, texts: list[str], spelled: str) -> None:
    """Store texts in the bound field; a text that does not convert is a 400 naming the parameter."""
    try:
        binding.apply(message, texts)
    except ValueError as error:
        raise validation_error(spelled, str(error)) from None


def render(renderer: JsonRenderer, route: HttpRoute, reply: Message) -> bytes:
    """The reply as JSON, or only its response_body field; fields without presence print even when empty."""
    field = route.response_field
    if field is None:
        return orjson.dumps(renderer.to_dict(reply))
    if field.message_type is not None and not is_repeated(field) and not is_map(field):
        return orjson.dumps(renderer.to_dict(getattr(reply, field.name)))
    return orjson.dumps(renderer.to_dict(reply).get(field.json_name))


def _http_error(failure: Exception, route: HttpRoute | None) -> HttpError:
    if isinstance(failure, HttpError):
        return failure
    if isinstance(failure, DomainError):
        return from_domain_error(failure)
    assert isinstance(failure, grpc.aio.AioRpcError)
    return from_rpc_error(failure, route.service.name if route else "upstream")


def _is_metadata_safe(value: str) -> bool:
    """gRPC metadata values must be printable ASCII; anything else is dropped rather than failing the call."""
    return len(value) <= 8192 and value.isascii() and value.isprintable()


def _raw_path(scope: Scope) -> str:
    """The still percent-encoded path, so an encoded '/' inside a variable does not split segments."""
    raw: bytes | None = scope.get("raw_path")
    if raw is None:
        return str(scope["path"])
    return raw.partition(b"?")[0].decode("latin-1")


async def send_json(send: Send, status: int, body: bytes, extra_headers: dict[str, str] | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for name, value in (extra_headers or {}).items():
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
