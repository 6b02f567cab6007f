"""Turn OpenTelemetry on for this process from the OTEL_* variables (config.py), or leave it off.

Called once per process before any service is built (`iotmon up`, `iotmon serve`); the SDK is imported only
when something is configured. Tests pass their own span processors and metric readers (in-memory ones).

Resources: a process running one component is `service.name` = OTEL_SERVICE_NAME, or iotmon-<component>.
`iotmon up` runs every component in one process: each keeps its own TracerProvider and service.name
(iotmon-device, iotmon-gateway, …) so that a trace still shows each hop's service; spans that belong to no
component (a background sweep publishing an event) and the process's metrics are `iotmon` there.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from types import TracebackType
from typing import TYPE_CHECKING, Any

from services.runtime.otel import hooks
from services.runtime.otel.config import OtelConfig

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor

log = logging.getLogger("iotmon.otel")

MESH = "iotmon"


class Observability:
    """What setup_observability turned on; shutdown() flushes the exporters and turns the hooks off."""

    def __init__(self, shutdowns: Sequence[Callable[[], Any]] = (), prometheus_port: int | None = None):
        self._shutdowns = list(shutdowns)
        self.prometheus_port = prometheus_port

    @property
    def enabled(self) -> bool:
        return hooks.tracing is not None or hooks.metrics is not None

    def shutdown(self) -> None:
        hooks.tracing = None
        hooks.metrics = None
        shutdowns, self._shutdowns = self._shutdowns, []
        for shutdown in reversed(shutdowns):
            try:
                shutdown()
            except Exception:  # an unreachable collector at exit must not turn a clean stop into a crash
                log.exception("telemetry exporter did not shut down cleanly")

    def __enter__(self) -> Observability:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.shutdown()


def setup_observability(
    components: Sequence[str],
    *,
    config: OtelConfig | None = None,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
) -> Observability:
    """Install tracing and metrics for the components this process runs (services and/or "gateway")."""
    if not components:
        raise ValueError("setup_observability needs the components the process runs")
    config = config or OtelConfig.from_env()
    tracing_on = bool(config.traces or span_processors)
    metrics_on = bool(config.metrics or metric_readers)
    if not (tracing_on or metrics_on):
        return Observability()
    shutdowns: list[Callable[[], Any]] = []
    prometheus_port = None
    if tracing_on:
        shutdowns.append(_install_tracing(components, config, span_processors))
    if metrics_on:
        shutdown, prometheus_port = _install_metrics(components, config, metric_readers)
        shutdowns.append(shutdown)
    log.info(
        "OpenTelemetry on",
        extra={"traces": list(config.traces), "metrics": list(config.metrics), "components": list(components)},
    )
    return Observability(shutdowns, prometheus_port)


def _install_tracing(
    components: Sequence[str], config: OtelConfig, extra: Sequence[SpanProcessor]
) -> Callable[[], None]:
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    from services.runtime.otel.tracing import Tracing

    shared = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
    for processor in extra:
        shared.add_span_processor(processor)
    for name in config.traces:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            shared.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:  # console: stderr, beside the JSON logs (stdout carries the command's banner)
            shared.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    owners = list(components) if len(components) == 1 else [*components, MESH]
    tracers = {}
    for component in owners:
        # The providers share one pipeline, shut down once below rather than by each provider.
        provider = TracerProvider(
            resource=_resource(component, len(components) == 1), active_span_processor=shared, shutdown_on_exit=False
        )
        tracers[component] = provider.get_tracer("iotmon", _version())
    hooks.tracing = Tracing(tracers, default_component=owners[-1])
    return shared.shutdown


def _install_metrics(
    components: Sequence[str], config: OtelConfig, extra: Sequence[MetricReader]
) -> tuple[Callable[[], None], int | None]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader

    from services.runtime.otel.metrics import Metrics

    readers = list(extra)
    closers: list[Callable[[], None]] = []
    prometheus_port = None
    for name in config.metrics:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        elif name == "console":
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr)))
        else:
            reader, server_close, prometheus_port = _prometheus(config)
            readers.append(reader)
            closers.append(server_close)
    single = len(components) == 1
    provider = MeterProvider(
        metric_readers=readers, resource=_resource(components[0] if single else MESH, single), shutdown_on_exit=False
    )
    hooks.metrics = Metrics(provider.get_meter("iotmon", _version()))

    def shutdown() -> None:
        provider.shutdown()
        for close in closers:
            close()

    return shutdown, prometheus_port


def _prometheus(config: OtelConfig) -> tuple[MetricReader, Callable[[], None], int]:
    """A scrape endpoint of this process's own registry (several setups in one test process stay apart)."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry)
    server, thread = start_http_server(config.prometheus_port, addr=config.prometheus_host, registry=registry)

    def close() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return reader, close, int(server.server_port)


def _resource(component: str, single: bool) -> Resource:
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource

    from_env = OTELResourceDetector().detect().attributes
    attributes: dict[str, str] = {"service.namespace": MESH, "service.version": _version()}
    attributes = {k: v for k, v in attributes.items() if k not in from_env}
    # One component: the operator's name wins. Several: each must keep its own for the traces to show hops.
    if not (single and SERVICE_NAME in from_env):
        attributes[SERVICE_NAME] = MESH if component == MESH else f"{MESH}-{component}"
    return Resource.create(attributes)


def _version() -> str:
    try:
        return metadata.version("iotmon")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"
