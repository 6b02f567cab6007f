"""Units, derived metrics and device-type schemas."""

from __future__ import annotations

import pytest

from services.telemetry.domain.derived import dew_point
from services.telemetry.domain.model import RejectReason
from services.telemetry.domain.schemas import DeviceTypes, InvalidDeviceTypes, parse_device_types
from services.telemetry.domain.units import conversion
from tests.unit.telemetry.world import World, check, raw, record

FAHRENHEIT_SENSOR = {
    "deviceTypes": [
        {
            "name": "us-thermostat",
            "metrics": {
                "temperature": {"type": "number", "unit": "C", "wireUnit": "F", "min": -40, "max": 85},
                "humidity": {"unit": "%", "wireUnit": "ratio", "min": 0, "max": 100},
                "heating": {"type": "boolean"},
            },
            "derived": ["dewPoint"],
        }
    ]
}


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (212, "F", "C", 100),
        (-40, "°F", "C", -40),
        (0, "C", "K", 273.15),
        (300, "K", "F", 80.33),
        (0.45, "ratio", "%", 45),
        (2500, "ppb", "ppm", 2.5),
        (1, "bar", "hPa", 1000),
    ],
)
def test_conversions_between_units_of_one_dimension(value: float, source: str, target: str, expected: float) -> None:
    found = conversion(source, target)
    assert found is not None
    assert found.apply(value) == pytest.approx(expected, abs=0.01)


def test_units_of_different_dimensions_or_unknown_do_not_convert() -> None:
    assert conversion("F", "%") is None
    assert conversion("furlong", "C") is None


@pytest.mark.parametrize(
    ("temperature", "humidity", "expected"),
    [(20.0, 50.0, 9.26), (30.0, 80.0, 26.17), (0.0, 100.0, 0.0), (-10.0, 60.0, -16.31)],
)
def test_dew_point_by_the_magnus_formula(temperature: float, humidity: float, expected: float) -> None:
    assert dew_point(temperature, humidity) == pytest.approx(expected, abs=0.01)


def test_no_dew_point_without_humidity() -> None:
    assert dew_point(20.0, 0.0) is None


async def test_readings_gain_the_dew_point_when_they_have_both_inputs() -> None:
    checked = await check(World(), [raw(record(temperature=20, humidity=50)), raw(record(co2=400))])
    first, second = checked.readings
    assert first.values["dewPoint"] == pytest.approx(9.26, abs=0.01)
    assert "dewPoint" not in second.values


async def test_a_record_may_name_the_unit_it_sends_in() -> None:
    payload = {**record(temperature=77, humidity=45), "units": {"temperature": "F"}}
    checked = await check(World(), [raw(payload)])
    assert checked.readings[0].values["temperature"] == pytest.approx(25.0)


async def test_the_range_applies_after_conversion() -> None:
    payload = {**record(temperature=190), "units": {"temperature": "F"}}  # 87.8 °C
    checked = await check(World(), [raw(payload)])
    assert checked.refusals[0].reason is RejectReason.OUT_OF_RANGE
    assert "87.7778 C (190 F as sent) is outside the valid range -40..85 C" in checked.refusals[0].message


async def test_an_unconvertible_unit_refuses_the_record() -> None:
    checked = await check(World(), [raw({**record(), "units": {"temperature": "%"}})])
    assert checked.refusals[0].reason is RejectReason.INVALID_RECORD
    assert "units.temperature" in checked.refusals[0].message


async def test_a_device_type_may_declare_the_unit_its_devices_send() -> None:
    world = World(types=DeviceTypes().with_types(parse_device_types(FAHRENHEIT_SENSOR)))
    world.directory.add("dev-us", device_type="us-thermostat")
    checked = await check(world, [raw(record("dev-us", temperature=68, humidity=0.5, heating=True))])
    values = checked.readings[0].values
    assert values["temperature"] == pytest.approx(20.0)
    assert values["humidity"] == pytest.approx(50.0)
    assert values["heating"] == 1.0
    assert values["dewPoint"] == pytest.approx(9.26, abs=0.01)


def test_the_built_in_type_is_the_specs() -> None:
    sensor = DeviceTypes().get("temperature-sensor-v2")
    assert sensor is not None
    assert {name: (m.unit, m.minimum, m.maximum) for name, m in sensor.metrics.items()} == {
        "temperature": ("C", -40, 85),
        "humidity": ("%", 0, 100),
        "co2": ("ppm", 0, 10_000),
        "battery": ("%", 0, 100),
    }
    assert sensor.metric_names == ["temperature", "humidity", "co2", "battery", "dewPoint"]


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"types": []}, "deviceTypes"),
        ([{"metrics": {"a": {}}}], "name"),
        ([{"name": "x", "metrics": {}}], "metrics"),
        ([{"name": "x", "metrics": {"a": {"type": "text"}}}], "number, integer or boolean"),
        ([{"name": "x", "metrics": {"a": {"unit": "furlong"}}}], "unknown unit"),
        ([{"name": "x", "metrics": {"a": {"unit": "C", "wireUnit": "%"}}}], "cannot convert"),
        ([{"name": "x", "metrics": {"a": {"min": 5, "max": 1}}}], "min <= max"),
        ([{"name": "x", "metrics": {"temperature": {"unit": "F"}}, "derived": ["dewPoint"]}], "declared in C"),
        ([{"name": "x", "metrics": {"a": {}}, "derived": ["wetBulb"]}], "unknown derived"),
    ],
)
def test_a_malformed_device_type_document_is_refused_saying_where(document: object, words: str) -> None:
    with pytest.raises(InvalidDeviceTypes) as refused:
        parse_device_types(document)
    assert words in str(refused.value)
