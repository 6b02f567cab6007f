"""TelemetrySettings read the issue's variable names for the two sources and IOTMON_TELEMETRY_* for the rest."""

from __future__ import annotations

import pytest

from services.telemetry.bootstrap import TelemetrySettings


def test_sources_use_the_contracts_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOTMON_MQTT_URL", "mqtt://127.0.0.1:1883")
    monkeypatch.setenv("IOTMON_KINESIS_STREAM", "telemetry")
    monkeypatch.setenv("MQTT_URL", "mqtt://elsewhere:1883")
    settings = TelemetrySettings()
    assert (settings.mqtt_url, settings.kinesis_stream) == ("mqtt://127.0.0.1:1883", "telemetry")


def test_the_rest_is_prefixed_and_defaults_to_the_embedded_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IOTMON_MQTT_URL", "IOTMON_TELEMETRY_STORE", "IOTMON_TELEMETRY_DLQ"):
        monkeypatch.delenv(name, raising=False)
    assert (TelemetrySettings().store, TelemetrySettings().dlq, TelemetrySettings().mqtt_url) == (
        "embedded",
        None,
        None,
    )
    monkeypatch.setenv("IOTMON_TELEMETRY_STORE", "postgres")
    monkeypatch.setenv("IOTMON_TELEMETRY_FUTURE_SKEW_SECONDS", "60")
    settings = TelemetrySettings()
    assert (settings.store, settings.future_skew_seconds) == ("postgres", 60)
    assert TelemetrySettings(mqtt_url="mqtt://x:1883").mqtt_url == "mqtt://x:1883", "tests may pass them directly"
