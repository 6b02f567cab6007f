"""The OpenAPI document: valid 3.1 (and a valid 3.0 view), one operation per annotated RPC, faithful shapes."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from gateway.catalog import load_services
from gateway.comments import load_comments
from gateway.openapi import as_openapi_30, build_openapi
from gateway.routes import HttpRoute, build_routes

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def routes() -> list[HttpRoute]:
    return build_routes(load_services())


@pytest.fixture(scope="module")
def doc(routes: list[HttpRoute]) -> Doc:
    return build_openapi(routes, load_services(), load_comments())


def operation(doc: Doc, method: str, path: str) -> Doc:
    op: Doc = doc["paths"][path][method]
    return op


def schema(doc: Doc, name: str) -> Doc:
    found: Doc = doc["components"]["schemas"][name]
    return found


def test_document_is_valid_openapi_31(doc: Doc) -> None:
    assert doc["openapi"] == "3.1.0"
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_the_30_view_for_swagger_ui_is_valid_openapi_30(doc: Doc) -> None:
    legacy = as_openapi_30(doc)
    assert legacy["openapi"] == "3.0.3"
    validate(legacy, cls=OpenAPIV30SpecValidator)
    assert doc["openapi"] == "3.1.0"  # the original is left alone


def test_every_annotated_rpc_is_one_operation(doc: Doc, routes: list[HttpRoute]) -> None:
    operations = {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}
    assert set(operations) == {r.operation_id for r in routes}
    assert len(operations) == len(routes)
    assert operations["DeviceService_GetDevice"]["tags"] == ["DeviceService"]
    assert {t["name"] for t in doc["tags"]} == {r.service.descriptor.name for r in routes}


def test_paths_use_json_parameter_names(doc: Doc) -> None:
    op = operation(doc, "get", "/devices/{deviceId}")
    assert op["operationId"] == "DeviceService_GetDevice"
    assert op["parameters"] == [
        {"name": "deviceId", "in": "path", "required": True, "schema": {"type": "string"}},
    ]


def test_query_parameters_are_typed(doc: Doc) -> None:
    params = {p["name"]: p for p in operation(doc, "get", "/devices")["parameters"]}
    assert params["pageSize"]["in"] == "query"
    assert params["pageSize"]["schema"]["type"] == "integer"
    assert params["tags"]["schema"]["type"] == "array"
    assert params["tags"]["schema"]["items"] == {"type": "string"}
    history = {p["name"]: p for p in operation(doc, "get", "/devices/{deviceId}/history")["parameters"]}
    assert history["startDate"]["schema"]["format"] == "date-time"


def test_success_codes_and_response_body(doc: Doc) -> None:
    assert "201" in operation(doc, "post", "/devices")["responses"]
    assert "202" in operation(doc, "post", "/analytics/reports")["responses"]
    get_device = operation(doc, "get", "/devices/{deviceId}")["responses"]["200"]
    assert get_device["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/iot.device.v1.Device"
    listing = operation(doc, "get", "/devices")["responses"]["200"]["content"]["application/json"]["schema"]
    assert listing == {"$ref": "#/components/schemas/iot.device.v1.ListDevicesResponse"}


def test_request_bodies(doc: Doc) -> None:
    update = operation(doc, "put", "/devices/{deviceId}")["requestBody"]["content"]["application/json"]["schema"]
    assert "deviceId" not in update["properties"]  # it comes from the path
    assert update["additionalProperties"] is False  # unknown keys are refused
    preferences = operation(doc, "put", "/users/me/preferences")["requestBody"]["content"]["application/json"]
    assert preferences["schema"]["$ref"] == "#/components/schemas/iot.identity.v1.Preferences"
    assert "requestBody" not in operation(doc, "get", "/devices")


def test_errors_reference_the_error_body(doc: Doc) -> None:
    responses = operation(doc, "get", "/devices/{deviceId}")["responses"]
    assert responses["404"] == {"$ref": "#/components/responses/NotFound"}
    for response in doc["components"]["responses"].values():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/iot.common.v1.ErrorBody"
        }
    error = schema(doc, "iot.common.v1.Error")
    assert set(error["properties"]) == {"code", "message", "details", "requestId"}


def test_well_known_and_scalar_types(doc: Doc) -> None:
    device = schema(doc, "iot.device.v1.Device")["properties"]
    assert device["lastSeen"]["type"] == "string"
    assert device["lastSeen"]["format"] == "date-time"
    assert device["lastReading"]["type"] == "object"
    assert device["metadata"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert device["tags"]["type"] == "array"
    assert schema(doc, "iot.device.v1.Location")["properties"]["lat"]["type"] == "number"
    assert schema(doc, "iot.common.v1.Pagination")["properties"]["page"]["type"] == "integer"
    change = schema(doc, "iot.device.v1.FieldChange")["properties"]
    assert "type" not in change["oldValue"]  # google.protobuf.Value: any JSON value
    tags = schema(doc, "iot.device.v1.UpdateDeviceRequest")["properties"]["tags"]
    assert tags["type"] == "array"


def test_optional_fields_are_not_required(doc: Doc) -> None:
    required = schema(doc, "iot.device.v1.Device")["required"]
    assert "deviceId" in required
    assert "tags" in required
    assert "firmwareVersion" not in required  # proto3 optional
    assert "location" not in required  # a message: absent when unset


def test_every_message_of_the_services_has_a_component(doc: Doc) -> None:
    names = set(doc["components"]["schemas"])
    for service in load_services():
        for message in service.descriptor.file.message_types_by_name.values():
            assert message.full_name in names


def test_security_is_bearer_except_for_anonymous_operations(doc: Doc) -> None:
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc["security"] == [{"bearerAuth": []}]
    assert operation(doc, "post", "/auth/token")["security"] == []
    assert "401" not in operation(doc, "post", "/auth/token")["responses"]
    assert "security" not in operation(doc, "get", "/users/me")


def test_descriptions_come_from_proto_comments(doc: Doc) -> None:
    op = operation(doc, "get", "/devices/{deviceId}")
    assert op["summary"] == "Get one device with its latest state (§3.1.2)"
    device = schema(doc, "iot.device.v1.Device")
    assert device["description"].startswith("Device is the full view of one device")
    assert device["properties"]["status"]["description"] == "registered, online, offline, maintenance or deleted."
    tag = next(t for t in doc["tags"] if t["name"] == "DeviceService")
    assert "registers and manages" in tag["description"]
