"""The shared MQTT URL parser and client ids (services/runtime/mqtt.py)."""

from __future__ import annotations

import os

import pytest

from services.runtime import mqtt
from services.runtime.mqtt import MqttEndpoint, check_client_id, host_client_id, process_client_id


def test_urls_name_host_port_tls_and_credentials() -> None:
    assert MqttEndpoint.parse("mqtt://127.0.0.1") == MqttEndpoint("127.0.0.1", 1883)
    endpoint = MqttEndpoint.parse("mqtts://iot%40user:p%3Ass@broker.example:8884")
    assert endpoint == MqttEndpoint("broker.example", 8884, "iot@user", "p:ss", tls=True)
    assert str(endpoint) == "mqtts://iot@user@broker.example:8884"


@pytest.mark.parametrize("url", ["http://broker:1883", "mqtt://", "broker:1883", ""])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not an MQTT URL"):
        MqttEndpoint.parse(url)


def test_a_host_id_is_stable_and_a_process_id_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mqtt.socket, "gethostname", lambda: "pod 7/a")
    assert host_client_id("iotmon-x") == host_client_id("iotmon-x") == "iotmon-x-pod-7-a"
    one, two = process_client_id("iotmon-x"), process_client_id("iotmon-x")
    assert one != two
    assert one.startswith(f"iotmon-x-pod-7-a-{os.getpid()}-")
    check_client_id(one)


def test_a_long_hostname_is_cut_but_the_unique_suffix_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mqtt.socket, "gethostname", lambda: "h" * 200)
    client_id = process_client_id("iotmon-x")
    assert len(client_id) == 128
    assert f"-{os.getpid()}-" in client_id[-20:]
    check_client_id(client_id)
    check_client_id(host_client_id("iotmon-x"))


@pytest.mark.parametrize("client_id", ["", "has space", "a/b", "x" * 129])
def test_unusable_client_ids_are_refused(client_id: str) -> None:
    with pytest.raises(ValueError, match="client id"):
        check_client_id(client_id)
