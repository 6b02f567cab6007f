"""The route table: one HttpRoute per google.api.http binding, and a matcher that finds them fast.

Templates support literal segments, `{field}`, `{field=*}` and nested `{a.b}`. A literal segment always
beats a variable one at the same position (GET /users/me is GetProfile, not GetUser("me")), and two
bindings that could match the same requests are refused at startup instead of shadowing each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from google.api import annotations_pb2, http_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from gateway.catalog import UpstreamService
from gateway.errors import HttpError
from gateway.fields import FieldBinding, binding_for, is_repeated, is_text_field, query_paths, resolve_path, spellings
from services.runtime.proto_options import allows_anonymous, method_path, success_code

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# A request body of this type travels as sent (bytes and content type), not parsed as the message's JSON form.
HTTP_BODY = "google.api.HttpBody"
# googleapis-common-protos types the extension as a plain FieldDescriptor, which Extensions[...] refuses.
HTTP_RULE_OPTION: Any = annotations_pb2.http


class UnsupportedRule(ValueError):
    """An HttpRule this gateway cannot serve; raised at startup so the proto gets fixed."""


class RouteConflict(ValueError):
    """Two bindings would match the same requests."""


@dataclass(frozen=True)
class Variable:
    field_path: str  # proto names, e.g. "device_id" or "thing.id"


Segment = str | Variable


@dataclass(frozen=True, eq=False)
class HttpRoute:
    """Everything needed to serve one binding, computed once."""

    http_method: str
    template: str
    segments: tuple[Segment, ...]
    service: UpstreamService
    method: MethodDescriptor
    path_bindings: tuple[FieldBinding, ...]
    body: str  # "" (no body), "*" (the whole request) or a top-level field name
    body_field: FieldDescriptor | None
    response_field: FieldDescriptor | None
    query: dict[str, FieldBinding]  # every accepted spelling → its binding
    success_code: int
    anonymous: bool
    request_class: type[Message]
    response_class: type[Message]
    binding_index: int = 0  # 0 for the rule itself, 1… for its additional_bindings
    # The body is a google.api.HttpBody (the body field's type, or with body "*" the request's own type).
    raw_body: bool = False

    @property
    def rpc_path(self) -> str:
        return method_path(self.method)

    @property
    def operation_id(self) -> str:
        base = f"{self.service.descriptor.name}_{self.method.name}"
        return f"{base}_{self.binding_index + 1}" if self.binding_index else base

    @property
    def query_bindings(self) -> list[FieldBinding]:
        """One binding per field (the query map also holds the proto-name spellings)."""
        return list({b.name: b for b in self.query.values()}.values())


def parse_template(template: str) -> tuple[Segment, ...]:
    if not template.startswith("/"):
        raise UnsupportedRule(f"path template {template!r} must start with '/'")
    segments: list[Segment] = []
    for part in template[1:].split("/"):
        if part.startswith("{") and part.endswith("}"):
            name, _, pattern = part[1:-1].partition("=")
            if pattern not in ("", "*"):
                raise UnsupportedRule(f"variable pattern {part!r} in {template!r} is not supported")
            segments.append(Variable(name))
        elif not part or any(c in part for c in "{}*:"):
            raise UnsupportedRule(f"segment {part!r} of {template!r} is not supported")
        else:
            segments.append(part)
    return tuple(segments)


def build_routes(services: Iterable[UpstreamService]) -> list[HttpRoute]:
    routes: list[HttpRoute] = []
    for service in services:
        for method in service.descriptor.methods:
            if not method.GetOptions().HasExtension(HTTP_RULE_OPTION):
                continue  # internal RPC, not exposed over HTTP
            if method.client_streaming or method.server_streaming:
                raise UnsupportedRule(f"{method.full_name}: only unary RPCs can have an HTTP binding")
            rule: http_pb2.HttpRule = method.GetOptions().Extensions[HTTP_RULE_OPTION]
            for index, binding in enumerate((rule, *rule.additional_bindings)):
                routes.append(_route(service, method, binding, index))
    return routes


def _route(service: UpstreamService, method: MethodDescriptor, rule: http_pb2.HttpRule, index: int) -> HttpRoute:
    pattern = rule.WhichOneof("pattern")
    if pattern in HTTP_METHODS:
        http_method, template = pattern.upper(), str(getattr(rule, pattern))
    elif pattern == "custom":
        http_method, template = rule.custom.kind.upper(), rule.custom.path
    else:
        raise UnsupportedRule(f"{method.full_name}: HttpRule without a path")
    segments = parse_template(template)
    request = method.input_type
    path_bindings = tuple(_path_binding(method, s.field_path) for s in segments if isinstance(s, Variable))
    body_field = None if rule.body in ("", "*") else _top_field(method, rule.body, "body")
    response_field = _top_field(method, rule.response_body, "response_body") if rule.response_body else None
    bound = [b.path for b in path_bindings] + ([(body_field,)] if body_field else [])
    query: dict[str, FieldBinding] = {}
    if rule.body != "*":
        for path in query_paths(request):
            if not any(path[: len(prefix)] == prefix for prefix in bound):
                binding = binding_for(path)
                query.update(dict.fromkeys(spellings(path), binding))
    return HttpRoute(
        http_method=http_method,
        template=template,
        segments=segments,
        service=service,
        method=method,
        path_bindings=path_bindings,
        body=rule.body,
        body_field=body_field,
        response_field=response_field,
        query=query,
        success_code=success_code(method),
        anonymous=allows_anonymous(method),
        request_class=message_factory.GetMessageClass(request),
        response_class=message_factory.GetMessageClass(method.output_type),
        binding_index=index,
        raw_body=_is_raw_body(rule.body, body_field, request),
    )


def _is_raw_body(body: str, body_field: FieldDescriptor | None, request: Descriptor) -> bool:
    if body == "*":
        return request.full_name == HTTP_BODY
    return (
        body_field is not None
        and body_field.message_type is not None
        and body_field.message_type.full_name == HTTP_BODY
    )


def _path_binding(method: MethodDescriptor, field_path: str) -> FieldBinding:
    try:
        path = resolve_path(method.input_type, field_path)
    except ValueError as error:
        raise UnsupportedRule(f"{method.full_name}: {error}") from None
    if not is_text_field(path[-1]) or is_repeated(path[-1]):
        raise UnsupportedRule(f"{method.full_name}: path variable {field_path!r} must name a single scalar field")
    return binding_for(path)


def _top_field(method: MethodDescriptor, name: str, role: str) -> FieldDescriptor:
    message = method.input_type if role == "body" else method.output_type
    found = message.fields_by_name.get(name)
    if found is None:
        raise UnsupportedRule(f"{method.full_name}: {role} {name!r} is not a field of {message.full_name}")
    return found


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    variable: _Node | None = None
    route: HttpRoute | None = None


@dataclass(frozen=True)
class RouteMatch:
    route: HttpRoute
    values: list[str]  # percent-decoded texts of the path variables, in template order


class RouteMatcher:
    """A segment trie per HTTP method; matching walks it, trying literals before variables."""

    def __init__(self, routes: Iterable[HttpRoute]):
        self._roots: dict[str, _Node] = {}
        for route in routes:
            self._add(route)

    def _add(self, route: HttpRoute) -> None:
        node = self._roots.setdefault(route.http_method, _Node())
        for segment in route.segments:
            if isinstance(segment, Variable):
                node.variable = node.variable or _Node()
                node = node.variable
            else:
                node = node.literals.setdefault(segment, _Node())
        if node.route is not None:
            raise RouteConflict(
                f"{route.http_method} {route.template} ({route.method.full_name}) conflicts with "
                f"{node.route.template} ({node.route.method.full_name})"
            )
        node.route = route

    def match(self, http_method: str, raw_path: str) -> RouteMatch:
        """The route for a request, or an HttpError: 404 for an unknown path, 405 for a wrong method.

        An unknown path is ROUTE_NOT_FOUND, so clients can tell it from a resource that does not exist.
        """
        segments = raw_path[1:].split("/")
        root = self._roots.get(http_method)
        if root is not None:
            values: list[str] = []
            route = _walk(root, segments, 0, values)
            if route is not None:
                return RouteMatch(route, [unquote(v) if "%" in v else v for v in values])
        allowed = sorted(m for m, r in self._roots.items() if m != http_method and _walk(r, segments, 0, []))
        if allowed:
            raise HttpError(
                405,
                "METHOD_NOT_ALLOWED",
                f"{http_method} is not allowed on {unquote(raw_path)}",
                {"allowed": allowed},
                {"Allow": ", ".join(allowed)},
            )
        raise HttpError(404, "ROUTE_NOT_FOUND", f"no route for {http_method} {unquote(raw_path)}")


def _walk(node: _Node, segments: list[str], index: int, values: list[str]) -> HttpRoute | None:
    if index == len(segments):
        return node.route
    segment = segments[index]
    literal = node.literals.get(segment)
    if literal is not None:
        found = _walk(literal, segments, index + 1, values)
        if found is not None:
            return found
    if node.variable is not None and segment:
        values.append(segment)
        found = _walk(node.variable, segments, index + 1, values)
        if found is not None:
            return found
        values.pop()
    return None
