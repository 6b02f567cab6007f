"""Field rules: every problem is named by its JSON path, and all of them are reported at once."""

from __future__ import annotations

import math

import pytest

from services.device.domain.commands import ConnectivityInput, ListDevices, RegisterDevice, UpdateDevice
from services.device.domain.errors import InvalidDeviceData
from services.device.domain.listing import SortField, SortOrder, parse_list_query
from services.device.domain.model import ConnectivityType, DeviceStatus, Location
from services.device.domain.registration import validate_registration
from services.device.domain.updates import validate_patch
from services.kernel.errors import ValidationFailed
from tests.unit.device.builders import registration


def violated_fields(error: ValidationFailed) -> list[str]:
    return [v.field for v in error.violations]


def test_the_spec_example_is_valid_and_normalised() -> None:
    valid = validate_registration(registration(tags=["office", "building-a", "office"], name="  Office-1  "))
    assert valid.name == "Office-1"
    assert valid.tags == ("office", "building-a")
    assert valid.serial_number == "SN123456789"
    assert valid.connectivity is not None
    assert valid.connectivity.type is ConnectivityType.CELLULAR
    assert valid.location == Location(37.7749, -122.4194, "Office 301, Building A")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "ab"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"device_type": ""}, "deviceType"),
        ({"device_type": "Temperature Sensor"}, "deviceType"),
        ({"device_type": "-leading-dash"}, "deviceType"),
        ({"location": Location(90.5, 0)}, "location.lat"),
        ({"location": Location(math.nan, 0)}, "location.lat"),
        ({"location": Location(0, -180.01)}, "location.lon"),
        ({"location": Location(0, 0, "a" * 201)}, "location.address"),
        ({"connectivity": ConnectivityInput("carrier-pigeon")}, "connectivity.type"),
        ({"connectivity": ConnectivityInput("wifi", sim_id="s" * 65)}, "connectivity.simId"),
        ({"connectivity": ConnectivityInput("wifi", signal_strength=20)}, "connectivity.signalStrength"),
        ({"connectivity": ConnectivityInput("wifi", ip_address="10.0.0.256")}, "connectivity.ipAddress"),
        ({"metadata": {"serialNumber": "   "}}, "metadata.serialNumber"),
        ({"metadata": {"serialNumber": "S" * 129}}, "metadata.serialNumber"),
        ({"metadata": {"model": 7}}, "metadata.model"),
        ({"metadata": {"bad key": "x"}}, "metadata.bad key"),
        ({"metadata": {"note": "n" * 257}}, "metadata.note"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
        ({"tags": ["ok", "not ok"]}, "tags[1]"),
        ({"tags": ["ok", ""]}, "tags[1]"),
        ({"tags": ["t" * 65]}, "tags[0]"),
        ({"tags": [f"t{i}" for i in range(51)]}, "tags"),
    ],
)
def test_each_rule_names_its_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidDeviceData) as refused:
        validate_registration(registration(**overrides))
    assert refused.value.reason == "VALIDATION_ERROR"
    assert field in violated_fields(refused.value)


def test_boundaries_are_accepted() -> None:
    valid = validate_registration(
        registration(
            name="abc",
            location=Location(-90, 180, "a" * 200),
            connectivity=ConnectivityInput("NB-IoT", ip_address="2001:db8::1", signal_strength=-200),
            tags=[f"t{i}" for i in range(50)],
            metadata={f"k{i}": "v" for i in range(50)},
        )
    )
    assert valid.connectivity is not None
    assert valid.connectivity.type is ConnectivityType.NB_IOT
    assert len(valid.tags) == 50


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(InvalidDeviceData) as refused:
        validate_registration(registration(name="x", location=Location(100, 200), tags=["bad tag"]))
    assert violated_fields(refused.value) == ["name", "location.lat", "location.lon", "tags[0]"]
    assert "location.lat" in refused.value.message


def test_an_empty_address_counts_as_none() -> None:
    location = validate_registration(registration(location=Location(1, 2, "  "))).location
    assert location == Location(1, 2, None)


def test_only_device_type_and_name_are_required() -> None:
    valid = validate_registration(
        RegisterDevice(device_type="temperature-sensor-v2", name="Bare-Sensor", location=None)
    )
    assert (valid.location, valid.connectivity, valid.metadata, valid.tags) == (None, None, {}, ())


def test_an_empty_update_is_refused() -> None:
    with pytest.raises(InvalidDeviceData) as refused:
        validate_patch(UpdateDevice("dev-1"))
    assert "nothing to update" in refused.value.message


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (UpdateDevice("dev-1", status="deleted"), "status"),
        (UpdateDevice("dev-1", status="registered"), "status"),
        (UpdateDevice("dev-1", status="broken"), "status"),
        (UpdateDevice("dev-1", metadata={"serialNumber": 12}), "metadata.serialNumber"),
        (UpdateDevice("dev-1", tags=["ok", 3]), "tags[1]"),
        (UpdateDevice("dev-1", name="no"), "name"),
        (UpdateDevice("dev-1", location=Location(0, 181)), "location.lon"),
    ],
)
def test_update_values_follow_the_same_rules(command: UpdateDevice, field: str) -> None:
    with pytest.raises(InvalidDeviceData) as refused:
        validate_patch(command)
    assert violated_fields(refused.value) == [field]


def test_an_update_may_clear_tags_and_metadata() -> None:
    patch = validate_patch(UpdateDevice("dev-1", tags=[], metadata={}, status="Maintenance"))
    assert patch.tags == ()
    assert patch.metadata == {}
    assert patch.status is DeviceStatus.MAINTENANCE


def test_list_query_defaults() -> None:
    query = parse_list_query(ListDevices())
    assert (query.sort_field, query.sort_order) == (SortField.NAME, SortOrder.ASC)
    assert (query.page.page, query.page.page_size) == (1, 25)
    assert query.filters.echo() == {}


def test_list_query_accepts_repeated_and_comma_separated_tags() -> None:
    query = parse_list_query(ListDevices(tags=["office,floor-3", " lab ", "office", ""]))
    assert query.filters.tags == ("office", "floor-3", "lab")
    assert query.filters.echo() == {"tags": ["office", "floor-3", "lab"]}


def test_list_query_echoes_given_filters_by_json_name() -> None:
    command = ListDevices(status="online", device_type="temperature-sensor-v2", location="", sort_by="lastSeen")
    query = parse_list_query(command)
    assert query.filters.echo() == {"status": "online", "deviceType": "temperature-sensor-v2"}
    assert query.sort_field is SortField.LAST_SEEN


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (ListDevices(page_size=101), "pageSize"),
        (ListDevices(page_size=0), "pageSize"),
        (ListDevices(page=0), "page"),
        (ListDevices(sort_by="createdAt"), "sortBy"),
        (ListDevices(sort_order="up"), "sortOrder"),
        (ListDevices(status="deleted"), "status"),
        (ListDevices(status="sleeping"), "status"),
        (ListDevices(device_type="Not A Slug"), "deviceType"),
        (ListDevices(tags=["good,bad tag"]), "tags[1]"),
        (ListDevices(location="x" * 201), "location"),
    ],
)
def test_bad_list_parameters_are_named(command: ListDevices, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_list_query(command)
    assert violated_fields(refused.value) == [field]


@pytest.mark.parametrize("missing", ["lat", "lon"])
def test_a_location_without_a_coordinate_is_refused_not_read_as_zero(missing: str) -> None:
    coordinates = {"lat": 37.7749, "lon": -122.4194} | {missing: math.nan}
    with pytest.raises(InvalidDeviceData) as caught:
        validate_registration(registration(location=Location(coordinates["lat"], coordinates["lon"], None)))
    assert violated_fields(caught.value) == [f"location.{missing}"]
    assert "required" in caught.value.violations[0].description
