"""The registration payload of a simulated device has the spec §3.1.1 input's shape."""

from __future__ import annotations

from iotmon.simulate import SimulationOptions, Via
from iotmon.simulate.registration import registration_payload
from tests.e2e.spec_payloads import REGISTER_DEVICE, same_shape


def test_the_payload_has_the_spec_shape_and_names_the_device_by_prefix_and_number() -> None:
    options = SimulationOptions(devices=30, rate=1, via=Via.MQTT, prefix="lab")
    payload = registration_payload(options, 24)

    connectivity = dict(REGISTER_DEVICE, connectivity={"type": "wifi"})  # no SIM card on Wi-Fi
    assert same_shape(payload, connectivity) == []
    assert payload["name"] == "lab-00025"
    assert payload["tags"] == ["simulator:lab", "simulated"]
    assert payload["location"]["address"] == "Simulated building 2, room 5"
    assert -90 <= payload["location"]["lat"] <= 90
    assert -180 <= payload["location"]["lon"] <= 180


def test_devices_get_distinct_serial_numbers() -> None:
    options = SimulationOptions(devices=300, rate=1, via=Via.MQTT)
    serials = {registration_payload(options, i)["metadata"]["serialNumber"] for i in range(300)}
    assert len(serials) == 300
