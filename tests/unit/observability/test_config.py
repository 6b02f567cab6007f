"""Which OTEL_* settings turn OpenTelemetry on, and which are refused at start-up."""

from __future__ import annotations

import pytest

from services.runtime.otel.config import OtelConfig, OtelConfigError


def test_nothing_configured_is_off() -> None:
    config = OtelConfig.from_env({})
    assert not config.enabled
    assert config.traces == ()
    assert config.metrics == ()


def test_an_otlp_endpoint_turns_both_signals_on_over_otlp() -> None:
    config = OtelConfig.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert config.traces == ("otlp",)
    assert config.metrics == ("otlp",)


def test_a_signal_endpoint_turns_only_that_signal_on() -> None:
    config = OtelConfig.from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert config.traces == ("otlp",)
    assert config.metrics == ()


def test_named_exporters_need_no_endpoint_and_none_switches_a_signal_off() -> None:
    config = OtelConfig.from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "Prometheus, console",
            "OTEL_EXPORTER_PROMETHEUS_PORT": "9100",
            "OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0",
        }
    )
    assert config.traces == ()
    assert config.metrics == ("prometheus", "console")
    assert (config.prometheus_host, config.prometheus_port) == ("0.0.0.0", 9100)


def test_the_prometheus_endpoint_has_the_standard_defaults() -> None:
    config = OtelConfig.from_env({"OTEL_METRICS_EXPORTER": "prometheus"})
    assert (config.prometheus_host, config.prometheus_port) == ("localhost", 9464)


def test_sdk_disabled_wins_over_everything() -> None:
    env = {"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "console", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}
    assert not OtelConfig.from_env(env).enabled


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "jaeger"},
        {"OTEL_METRICS_EXPORTER": "otlp,statsd"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": "ninety"},
    ],
)
def test_what_this_build_cannot_do_is_refused_with_the_variable_named(env: dict[str, str]) -> None:
    with pytest.raises(OtelConfigError) as refused:
        OtelConfig.from_env(env)
    assert "OTEL_" in str(refused.value)
