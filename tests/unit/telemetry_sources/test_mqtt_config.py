"""IOTMON_MQTT_URL, the subscription and the device id named by a topic."""

from __future__ import annotations

import pytest

from services.runtime.mqtt import MqttEndpoint
from services.telemetry.adapters.source_mqtt_config import MqttOptions


def test_a_plain_url_names_host_and_port() -> None:
    assert MqttEndpoint.parse("mqtt://127.0.0.1:1883") == MqttEndpoint("127.0.0.1", 1883)


def test_credentials_are_percent_decoded_and_never_printed() -> None:
    endpoint = MqttEndpoint.parse("mqtt://iot%40user:p%3Ass@broker.example:11883")
    assert (endpoint.username, endpoint.password) == ("iot@user", "p:ss")
    assert str(endpoint) == "mqtt://iot@user@broker.example:11883"
    assert "p:ss" not in str(endpoint)


def test_mqtts_means_tls_on_8883_by_default() -> None:
    assert MqttEndpoint.parse("mqtts://abc-ats.iot.us-east-1.amazonaws.com") == MqttEndpoint(
        "abc-ats.iot.us-east-1.amazonaws.com", 8883, tls=True
    )


@pytest.mark.parametrize("url", ["http://broker:1883", "mqtt://", "broker:1883"])
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not an MQTT URL"):
        MqttEndpoint.parse(url)


def test_replicas_of_a_group_share_one_subscription() -> None:
    options = MqttOptions(client_id="telemetry-0", group="ingest", topic_prefix="fleet/devices")
    assert options.subscription == "$share/ingest/fleet/devices/+/telemetry"
    assert MqttOptions(client_id="solo", group=None).subscription == "devices/+/telemetry"


@pytest.mark.parametrize(
    ("topic", "device"),
    [
        ("devices/dev-42/telemetry", "dev-42"),
        ("devices/dev-42/status", None),
        ("other/dev-42/telemetry", None),
        ("devices//telemetry", None),
        ("devices/a/b/telemetry", None),
    ],
)
def test_the_device_id_comes_from_the_topic(topic: str, device: str | None) -> None:
    assert MqttOptions(client_id="c").device_of(topic) == device


def test_the_default_client_id_is_stable_and_valid() -> None:
    assert MqttOptions().client_id == MqttOptions().client_id
    assert MqttOptions().client_id.startswith("iotmon-telemetry-")


@pytest.mark.parametrize(
    "settings",
    [
        {"client_id": "has space"},
        {"client_id": "c", "batch_size": 0},
        {"client_id": "c", "batch_size": 500, "receive_maximum": 100},
        {"client_id": "c", "receive_maximum": 70_000},
        {"client_id": "c", "group": "a/b"},
    ],
)
def test_unusable_options_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        MqttOptions(**settings)  # type: ignore[arg-type]
