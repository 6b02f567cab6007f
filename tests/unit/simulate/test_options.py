"""`iotmon simulate` flags: defaults, percentages, environment defaults and the checks that refuse a bad run."""

from __future__ import annotations

import pytest

from iotmon.cli import build_parser
from iotmon.simulate import SimulationOptions, Via, main
from iotmon.simulate.options import MqttUrl


def parse(*argv: str) -> SimulationOptions:
    return SimulationOptions.from_args(build_parser().parse_args(["simulate", *argv]))


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IOTMON_MQTT_URL", "IOTMON_KINESIS_STREAM", "IOTMON_TOKEN", "IOTMON_GATEWAY_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IOTMON_TELEMETRY_ADDR", "127.0.0.1:6000")
    options = parse()

    assert options.via is Via.MQTT
    assert options.gateway == "http://127.0.0.1:8080"
    assert options.mqtt == MqttUrl("127.0.0.1", 1883)
    assert options.qos == 1
    assert options.grpc_address == "127.0.0.1:6000"
    assert options.org == "org-demo"
    assert options.irregularities.out_of_order == pytest.approx(0.02)
    assert options.irregularities.duplicates == pytest.approx(0.01)
    assert options.tag == "simulator:sim"
    assert options.device_name(0) == "sim-00001"


def test_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOTMON_MQTT_URL", "mqtt://user:secret@broker.local:1884")
    monkeypatch.setenv("IOTMON_KINESIS_STREAM", "telemetry")
    options = parse(
        "--devices", "50", "--rate", "0", "--via", "kinesis", "--out-of-order", "5", "--duplicates", "0",
        "--prefix", "load-1", "--seed", "9", "--gateway", "http://gw:9000/",
    )  # fmt: skip

    assert (options.devices, options.rate, options.via, options.seed) == (50, 0, Via.KINESIS, 9)
    assert options.kinesis_stream == "telemetry"
    assert options.mqtt == MqttUrl("broker.local", 1884, "user", "secret")
    assert options.irregularities.out_of_order == pytest.approx(0.05)
    assert options.irregularities.duplicates == 0
    assert options.gateway == "http://gw:9000"
    assert options.requests_in_flight == 1, "one put_records at a time unless asked (moto loses concurrent puts)"
    assert parse("--via", "http").requests_in_flight == 4
    assert parse("--via", "http", "--concurrency", "8").requests_in_flight == 8


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--devices", "0"], "--devices"),
        (["--rate", "-1"], "--rate"),
        (["--duration", "0"], "--duration"),
        (["--count", "0"], "--count"),
        (["--batch-size", "501"], "--batch-size"),
        (["--prefix", "Not A Slug"], "--prefix"),
        (["--device-type", "thermostat-v1"], "--device-type"),
        (["--out-of-order", "80"], "out_of_order"),
        (["--mqtt-url", "http://broker:1883"], "--mqtt-url"),
    ],
)
def test_bad_options_are_refused(argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOTMON_KINESIS_STREAM", raising=False)
    with pytest.raises(ValueError, match=message):
        parse(*argv)


def test_kinesis_needs_a_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOTMON_KINESIS_STREAM", raising=False)
    with pytest.raises(ValueError, match="--kinesis-stream"):
        parse("--via", "kinesis")


def test_the_command_exits_2_on_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(build_parser().parse_args(["simulate", "--devices", "0"]))

    assert code == 2
    assert "--devices must be at least 1" in capsys.readouterr().err
