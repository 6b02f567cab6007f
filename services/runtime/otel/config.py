"""Which exporters the standard OTEL_* variables ask for; nothing at all when none is configured.

The SDK's own default exporter is OTLP, which would make every process try to reach a collector on
localhost. Here nothing is set up unless asked: an exporter named in OTEL_TRACES_EXPORTER /
OTEL_METRICS_EXPORTER, or an OTLP endpoint (which implies the otlp exporter for the signal left unnamed).
OTEL_SDK_DISABLED=true turns everything off whatever else is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

TRACE_EXPORTERS = frozenset({"otlp", "console"})
METRIC_EXPORTERS = frozenset({"otlp", "prometheus", "console"})
# The Prometheus exporter's standard defaults (OpenTelemetry's SDK environment variable specification).
PROMETHEUS_HOST = "localhost"
PROMETHEUS_PORT = 9464


class OtelConfigError(ValueError):
    """An OTEL_* variable names something this build cannot do; said at start-up, not silently ignored."""


@dataclass(frozen=True)
class OtelConfig:
    traces: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    prometheus_host: str = PROMETHEUS_HOST
    prometheus_port: int = PROMETHEUS_PORT

    @property
    def enabled(self) -> bool:
        return bool(self.traces or self.metrics)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OtelConfig:
        env = os.environ if env is None else env
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return cls()
        endpoint = bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip())
        traces = _exporters(env, "OTEL_TRACES_EXPORTER", TRACE_EXPORTERS, endpoint or _set(env, "TRACES"))
        metrics = _exporters(env, "OTEL_METRICS_EXPORTER", METRIC_EXPORTERS, endpoint or _set(env, "METRICS"))
        protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf").strip() or "http/protobuf"
        if "otlp" in traces + metrics and protocol != "http/protobuf":
            raise OtelConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: only http/protobuf is installed")
        port = env.get("OTEL_EXPORTER_PROMETHEUS_PORT", "").strip()
        try:
            prometheus_port = int(port) if port else PROMETHEUS_PORT
        except ValueError:
            raise OtelConfigError(f"OTEL_EXPORTER_PROMETHEUS_PORT={port!r} is not a port number") from None
        host = env.get("OTEL_EXPORTER_PROMETHEUS_HOST", "").strip() or PROMETHEUS_HOST
        return cls(traces, metrics, host, prometheus_port)


def _set(env: Mapping[str, str], signal: str) -> bool:
    return bool(env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "").strip())


def _exporters(env: Mapping[str, str], variable: str, known: frozenset[str], otlp_by_default: bool) -> tuple[str, ...]:
    raw = env.get(variable)
    if raw is None or not raw.strip():
        return ("otlp",) if otlp_by_default else ()
    names = tuple(dict.fromkeys(name.strip().lower() for name in raw.split(",") if name.strip()))
    unknown = [name for name in names if name not in known and name != "none"]
    if unknown:
        raise OtelConfigError(f"{variable}: unknown exporter {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return () if "none" in names else names
