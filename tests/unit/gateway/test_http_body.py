"""google.api.HttpBody request bodies: recognised from the rule, handed on raw, documented as JSON."""

from __future__ import annotations

import pytest
from google.api import httpbody_pb2
from google.protobuf.message import Message

from gateway.body import fill_http_body
from gateway.catalog import load_services
from gateway.comments import load_comments
from gateway.openapi import build_openapi
from gateway.routes import HttpRoute, build_routes
from tests.unit.gateway.synthetic import thing_service


@pytest.fixture(scope="module")
def by_id() -> dict[str, HttpRoute]:
    return {r.operation_id: r for r in build_routes(load_services())}


def test_a_body_field_of_type_http_body_is_raw(by_id: dict[str, HttpRoute]) -> None:
    assert by_id["TelemetryService_IngestTelemetry"].raw_body
    raw_routes = [name for name, route in by_id.items() if route.raw_body]
    assert raw_routes == ["TelemetryService_IngestTelemetry"], "JSON bodies everywhere else"


def test_the_bytes_and_content_type_go_into_the_field_unparsed(by_id: dict[str, HttpRoute]) -> None:
    route = by_id["TelemetryService_IngestTelemetry"]
    message: Message = route.request_class()
    fill_http_body(route, b'{"records": [{"deviceId": ', "application/json; charset=utf-8", message)
    payload = message.payload  # type: ignore[attr-defined]
    assert (payload.data, payload.content_type) == (b'{"records": [{"deviceId": ', "application/json; charset=utf-8")
    assert not message.records  # type: ignore[attr-defined]


def test_a_missing_content_type_is_taken_as_json(by_id: dict[str, HttpRoute]) -> None:
    route = by_id["TelemetryService_IngestTelemetry"]
    message: Message = route.request_class()
    fill_http_body(route, b"{}", None, message)
    assert message.payload.content_type == "application/json"  # type: ignore[attr-defined]


def test_a_whole_request_of_type_http_body_is_raw_too() -> None:
    service = thing_service(
        "rawwhole", {"Upload": {"post": "/things/upload", "body": "*", "input": ".google.api.HttpBody"}}
    )
    (route,) = build_routes([service])
    assert route.raw_body
    message: Message = route.request_class()
    fill_http_body(route, b"\x00\x01", "application/octet-stream", message)
    assert message == httpbody_pb2.HttpBody(data=b"\x00\x01", content_type="application/octet-stream")


def test_openapi_documents_the_raw_body_as_json_with_the_fields_comment(by_id: dict[str, HttpRoute]) -> None:
    doc = build_openapi(list(by_id.values()), load_services(), load_comments())
    body = doc["paths"]["/telemetry"]["post"]["requestBody"]["content"]
    assert list(body) == ["application/json"]
    assert body["application/json"]["schema"]["description"].startswith('Over HTTP: {"records": [<§4.1 record>, ...]}')
    assert "$ref" not in body["application/json"]["schema"]
