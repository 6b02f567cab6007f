"""GET /openapi.json: an OpenAPI 3.1 document generated from the same route table the gateway serves.

One operation per HTTP binding (operationId Service_Method, tagged by service), parameters typed from the
request fields, bodies and 2xx responses honouring `body` / `response_body`, §8.2 error responses, and
descriptions from the proto comments. The Swagger UI bundle we ship (4.x) renders only OpenAPI 3.0, so
`as_openapi_30` derives a 3.0 view of the same document for /docs.
"""

from __future__ import annotations

import copy
import importlib.metadata
from collections.abc import Iterable
from typing import Any

from iot.common.v1 import common_pb2

from gateway.catalog import UpstreamService
from gateway.routes import HttpRoute, Variable
from gateway.schemas import COMPONENT_PREFIX, Schema, SchemaBuilder

OPENAPI_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
ERROR_BODY = common_pb2.ErrorBody.DESCRIPTOR
_ERROR_RESPONSES = {
    "400": ("BadRequest", "The request is invalid (VALIDATION_ERROR, INVALID_JSON)."),
    "401": ("Unauthorized", "No valid bearer token (UNAUTHENTICATED, INVALID_TOKEN, TOKEN_EXPIRED)."),
    "403": ("Forbidden", "The caller's role or organization does not allow this (FORBIDDEN)."),
    "404": ("NotFound", "The resource does not exist or belongs to another organization."),
    "409": ("Conflict", "The resource's state forbids the change, or it already exists."),
    "default": ("Error", "Any other error, in the same shape (413, 429, 5xx)."),
}
_AUTH_ONLY = {"401", "403"}


def build_openapi(routes: Iterable[HttpRoute], services: Iterable[UpstreamService], comments: dict[str, str]) -> Schema:
    builder = SchemaBuilder(comments)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.http_method.lower() in OPENAPI_METHODS:
            paths.setdefault(openapi_path(route), {})[route.http_method.lower()] = _operation(route, builder, comments)
    services = list(services)
    for service in services:
        for message in service.descriptor.file.message_types_by_name.values():
            builder.message(message)
    builder.message(ERROR_BODY)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "IoT Monitoring API",
            "version": _version(),
            "description": "REST gateway transcoding HTTP/JSON to the gRPC services defined in protos/. "
            'Errors share one shape: {"error": {code, message, details, requestId}}.',
        },
        "tags": [
            {"name": s.descriptor.name, "description": comments.get(s.descriptor.full_name, "")} for s in services
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(builder.components.items())),
            "responses": {
                name: _json_response(description, {"$ref": COMPONENT_PREFIX + ERROR_BODY.full_name})
                for name, description in _ERROR_RESPONSES.values()
            },
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearerAuth": []}],
    }


def openapi_path(route: HttpRoute) -> str:
    """The template with JSON parameter names: /devices/{device_id} → /devices/{deviceId}."""
    names = iter(b.name for b in route.path_bindings)
    return "/" + "/".join("{" + next(names) + "}" if isinstance(s, Variable) else s for s in route.segments)


def _operation(route: HttpRoute, builder: SchemaBuilder, comments: dict[str, str]) -> Schema:
    description = comments.get(route.method.full_name, "")
    operation: Schema = {
        "operationId": route.operation_id,
        "tags": [route.service.descriptor.name],
        "summary": description.split(". ")[0].rstrip(".") or route.method.name,
        "description": description,
        "parameters": _parameters(route, builder),
    }
    if route.body:
        body_schema = _request_body(route, builder, comments)
        operation["requestBody"] = {"content": {"application/json": {"schema": body_schema}}}
    success = _json_response(description or "Success", _response_schema(route, builder))
    operation["responses"] = {str(route.success_code): success} | {
        status: {"$ref": "#/components/responses/" + name}
        for status, (name, _) in _ERROR_RESPONSES.items()
        if not (route.anonymous and status in _AUTH_ONLY)
    }
    if route.anonymous:
        operation["security"] = []
    return operation


def _parameters(route: HttpRoute, builder: SchemaBuilder) -> list[Schema]:
    path = [_parameter(b.name, "path", True, builder.field(b.leaf)) for b in route.path_bindings]
    query = [_parameter(b.name, "query", False, builder.field(b.leaf)) for b in route.query_bindings]
    return path + query


def _parameter(name: str, where: str, required: bool, schema: Schema) -> Schema:
    parameter: Schema = {"name": name, "in": where, "required": required, "schema": schema}
    if "description" in schema:
        parameter["description"] = schema["description"]
    return parameter


def _request_body(route: HttpRoute, builder: SchemaBuilder, comments: dict[str, str]) -> Schema:
    if route.raw_body:
        # Any JSON document, parsed by the service itself; the field's comment says what it holds.
        described = route.body_field.full_name if route.body_field is not None else route.method.input_type.full_name
        return {"description": comments[described]} if comments.get(described) else {}
    if route.body_field is not None:
        return builder.field(route.body_field)
    in_path = frozenset(b.path[0].name for b in route.path_bindings if len(b.path) == 1)
    return builder.object_of(route.method.input_type, skip=in_path, closed=True)


def _response_schema(route: HttpRoute, builder: SchemaBuilder) -> Schema:
    if route.response_field is not None:
        return builder.field(route.response_field)
    return builder.message(route.method.output_type)


def _json_response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _version() -> str:
    try:
        return importlib.metadata.version("iotmon")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def as_openapi_30(document: Schema) -> Schema:
    """The same document as OpenAPI 3.0.3, for tools that do not read 3.1 yet (the bundled Swagger UI).

    The generator only uses keywords both versions share, except that 3.0 ignores siblings of `$ref`:
    there a described reference becomes an `allOf` of one so the description survives.
    """
    converted: Schema = _without_ref_siblings(copy.deepcopy(document))
    converted["openapi"] = "3.0.3"
    return converted


def _without_ref_siblings(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: _without_ref_siblings(value) for key, value in node.items()}
        if "$ref" in node and len(node) > 1:
            ref = node.pop("$ref")
            node["allOf"] = [{"$ref": ref}]
        return node
    if isinstance(node, list):
        return [_without_ref_siblings(item) for item in node]
    return node
