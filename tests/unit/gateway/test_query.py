"""Query parameters → request fields: names, types, repetition and the 400s for bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.message import Message

from gateway.catalog import load_services
from gateway.errors import HttpError
from gateway.routes import HttpRoute, build_routes
from gateway.transcode import apply_query
from tests.unit.gateway.synthetic import thing_service


@pytest.fixture(scope="module")
def by_id() -> dict[str, HttpRoute]:
    return {r.operation_id: r for r in build_routes(load_services())}


def query(route: HttpRoute, text: str) -> Any:
    message: Message = route.request_class()
    apply_query(route, message, text.encode())
    return message


def refused(route: HttpRoute, text: str) -> HttpError:
    with pytest.raises(HttpError) as caught:
        query(route, text)
    assert caught.value.status == 400
    assert caught.value.code == "VALIDATION_ERROR"
    return caught.value


def named_field(error: HttpError) -> str:
    field: str = error.details["fields"][0]["field"]
    return field


@pytest.mark.parametrize("text", ["pageSize=10&sortBy=name", "page_size=10&sort_by=name"])
def test_json_and_proto_names_are_both_accepted(by_id: dict[str, HttpRoute], text: str) -> None:
    message = query(by_id["DeviceService_ListDevices"], text)
    assert message.page_size == 10
    assert message.sort_by == "name"
    assert message.HasField("page_size")
    assert not message.HasField("page")


def test_optional_scalars_keep_presence_even_when_empty(by_id: dict[str, HttpRoute]) -> None:
    message = query(by_id["DeviceService_ListDevices"], "status=&deviceType=temperature-sensor-v2")
    assert message.HasField("status")
    assert message.status == ""
    assert message.device_type == "temperature-sensor-v2"


def test_repeated_fields_take_repeated_parameters(by_id: dict[str, HttpRoute]) -> None:
    message = query(by_id["DeviceService_ListDevices"], "tags=office&tags=building-a&tags=a%2Cb")
    assert list(message.tags) == ["office", "building-a", "a,b"]


def test_timestamps_parse_from_iso_8601(by_id: dict[str, HttpRoute]) -> None:
    message = query(
        by_id["TelemetryService_GetDeviceHistory"],
        "startDate=2025-11-14T10:00:00Z&endDate=2025-11-15T12:00:00%2B02:00&metrics=temperature&metrics=humidity",
    )
    assert message.start_date.ToDatetime(tzinfo=UTC) == datetime(2025, 11, 14, 10, tzinfo=UTC)
    assert message.end_date.ToDatetime(tzinfo=UTC) == datetime(2025, 11, 15, 10, tzinfo=UTC)
    assert list(message.metrics) == ["temperature", "humidity"]


def test_a_date_alone_is_midnight_utc(by_id: dict[str, HttpRoute]) -> None:
    message = query(by_id["AlertingService_ListAlerts"], "startDate=2025-10-01")
    assert message.start_date.ToDatetime(tzinfo=UTC) == datetime(2025, 10, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("operation", "text", "field"),
    [
        ("DeviceService_ListDevices", "pageSize=abc", "pageSize"),
        ("DeviceService_ListDevices", "page_size=1.5", "page_size"),
        ("DeviceService_ListDevices", "page=99999999999", "page"),
        ("DeviceService_ListDevices", "page=", "page"),
        ("AlertingService_ListAlerts", "startDate=yesterday", "startDate"),
    ],
)
def test_bad_values_are_400_naming_the_parameter(
    by_id: dict[str, HttpRoute], operation: str, text: str, field: str
) -> None:
    error = refused(by_id[operation], text)
    assert named_field(error) == field
    assert field in error.message


def test_unknown_parameters_are_400_naming_them(by_id: dict[str, HttpRoute]) -> None:
    error = refused(by_id["DeviceService_ListDevices"], "pageSize=10&colour=red")
    assert named_field(error) == "colour"
    assert "pageSize" in error.details["fields"][0]["description"]


def test_a_single_valued_parameter_given_twice_is_400(by_id: dict[str, HttpRoute]) -> None:
    assert named_field(refused(by_id["DeviceService_ListDevices"], "page=1&page=2")) == "page"


def test_fields_bound_by_the_path_are_not_query_parameters(by_id: dict[str, HttpRoute]) -> None:
    assert named_field(refused(by_id["DeviceService_ListDeviceChanges"], "deviceId=dev-2")) == "deviceId"


def test_routes_whose_body_is_the_whole_request_take_no_query(by_id: dict[str, HttpRoute]) -> None:
    assert by_id["DeviceService_RegisterDevice"].query == {}
    refused(by_id["DeviceService_RegisterDevice"], "name=x")


def test_nested_fields_and_scalar_types() -> None:
    [route] = build_routes([thing_service("query", {"ListThings": {"get": "/things"}})])
    message = query(
        route,
        "thing.id=t-1&thing.labels=a&thing.labels=b&version=-3&ratio=0.25&enabled=true&since=2025-01-01T00:00:00Z"
        "&big=9007199254740993",
    )
    assert (message.thing.id, list(message.thing.labels)) == ("t-1", ["a", "b"])
    assert (message.version, message.ratio, message.enabled, message.big) == (-3, 0.25, True, 9007199254740993)
    assert message.since.seconds == 1735689600
    assert query(route, "enabled=false").HasField("enabled")


@pytest.mark.parametrize(
    ("text", "field"), [("enabled=yes", "enabled"), ("ratio=fast", "ratio"), ("version=1_000", "version")]
)
def test_scalar_conversion_errors(text: str, field: str) -> None:
    [route] = build_routes([thing_service("query", {"ListThings": {"get": "/things"}})])
    assert named_field(refused(route, text)) == field
