"""Request bodies: unknown keys named by JSON path, path duplicates, bad JSON, body: "<field>", size limit."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.message import Message

from gateway.body import merge_body, parse_json, read_body
from gateway.catalog import load_services
from gateway.errors import HttpError
from gateway.routes import HttpRoute, build_routes


@pytest.fixture(scope="module")
def by_id() -> dict[str, HttpRoute]:
    return {r.operation_id: r for r in build_routes(load_services())}


def merged(route: HttpRoute, document: Any, path_values: list[Any] | None = None) -> Any:
    message: Message = route.request_class()
    merge_body(route, document, message, path_values or [])
    return message


def refused(route: HttpRoute, document: Any, path_values: list[Any] | None = None) -> HttpError:
    with pytest.raises(HttpError) as caught:
        merged(route, document, path_values)
    assert caught.value.status == 400
    return caught.value


def test_unknown_top_level_key_is_named(by_id: dict[str, HttpRoute]) -> None:
    error = refused(by_id["DeviceService_UpdateDevice"], {"name": "x", "firmwareVersion": "v2"}, ["dev-1"])
    assert error.code == "VALIDATION_ERROR"
    assert "firmwareVersion" in error.message
    assert error.details["fields"][0]["field"] == "firmwareVersion"
    assert "location" in error.details["fields"][0]["description"]  # says what is accepted


@pytest.mark.parametrize(
    ("operation", "document", "field"),
    [
        ("DeviceService_RegisterDevice", {"location": {"lat": 1, "altitude": 2}}, "location.altitude"),
        (
            "AlertingService_CreateAlertRule",
            {"actions": {"webhooks": [{"url": "https://x"}, {"uri": "y"}]}},
            "actions.webhooks[1].uri",
        ),
        (
            "IdentityService_UpdateProfile",
            {"preferences": {"quietHours": {"begin": "22:00"}}},
            "preferences.quietHours.begin",
        ),
    ],
)
def test_unknown_nested_keys_are_named_by_json_path(
    by_id: dict[str, HttpRoute], operation: str, document: dict[str, Any], field: str
) -> None:
    assert refused(by_id[operation], document).details["fields"][0]["field"] == field


def test_free_form_fields_accept_any_keys(by_id: dict[str, HttpRoute]) -> None:
    message = merged(by_id["DeviceService_RegisterDevice"], {"metadata": {"serialNumber": "SN1", "anything": "x"}})
    assert dict(message.metadata) == {"serialNumber": "SN1", "anything": "x"}
    update = merged(by_id["DeviceService_UpdateDevice"], {"metadata": {"free": 1}, "tags": ["a"]}, ["dev-1"])
    assert update.metadata["free"] == 1


def test_json_and_proto_key_spellings_both_parse(by_id: dict[str, HttpRoute]) -> None:
    route = by_id["DeviceService_RegisterDevice"]
    assert merged(route, {"deviceType": "t1"}).device_type == "t1"
    assert merged(route, {"device_type": "t2"}).device_type == "t2"


def test_body_field_is_the_whole_body(by_id: dict[str, HttpRoute]) -> None:
    route = by_id["IdentityService_UpdatePreferences"]
    message = merged(route, {"theme": "dark", "quietHours": {"enabled": True, "start": "22:00"}})
    assert message.preferences.theme == "dark"
    assert message.preferences.quiet_hours.start == "22:00"
    # The body is a Preferences object, so its own keys are checked, not the request's.
    assert refused(route, {"preferences": {"theme": "dark"}}).details["fields"][0]["field"] == "preferences"


def test_body_may_repeat_a_path_parameter_only_with_the_same_value(by_id: dict[str, HttpRoute]) -> None:
    route = by_id["DeviceService_UpdateDevice"]
    assert merged(route, {"deviceId": "dev-1", "name": "n"}, ["dev-1"]).name == "n"
    error = refused(route, {"device_id": "dev-2"}, ["dev-1"])
    assert error.details["fields"][0]["field"] == "deviceId"
    assert "dev-2" in error.message


def test_wrong_types_are_validation_errors_with_the_json_format_message(by_id: dict[str, HttpRoute]) -> None:
    error = refused(by_id["DeviceService_RegisterDevice"], {"location": {"lat": "north"}})
    assert error.code == "VALIDATION_ERROR"
    assert "lat" in error.message


@pytest.mark.parametrize("document", [[1, 2], "text", 3])
def test_a_non_object_body_is_refused(by_id: dict[str, HttpRoute], document: Any) -> None:
    assert refused(by_id["DeviceService_RegisterDevice"], document).details["fields"][0]["field"] == "body"


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b"\xff\xfe", b"[1,]"])
def test_invalid_json_has_its_own_reason(raw: bytes) -> None:
    with pytest.raises(HttpError) as caught:
        parse_json(raw)
    assert (caught.value.status, caught.value.code) == (400, "INVALID_JSON")


def test_an_empty_body_is_an_empty_object() -> None:
    assert parse_json(b"") == {}
    assert parse_json(b"  \n") == {}


async def test_body_over_the_limit_is_413_whether_declared_or_streamed() -> None:
    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 2

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    with pytest.raises(HttpError) as caught:
        await read_body(receive, None, 1000)
    assert (caught.value.status, caught.value.code) == (413, "PAYLOAD_TOO_LARGE")
    with pytest.raises(HttpError) as declared:
        await read_body(receive, "5000", 1000)  # refused before reading anything
    assert declared.value.status == 413


async def test_body_within_the_limit_is_joined() -> None:
    chunks = [
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    assert await read_body(receive, None, 1000) == b'{"a":1}'
