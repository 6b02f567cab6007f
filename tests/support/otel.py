"""OpenTelemetry set up in the test process with in-memory exporters, and turned off again afterwards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.runtime.otel.config import OtelConfig
from services.runtime.otel.setup import setup_observability

Attributes = frozenset[tuple[str, Any]]


@dataclass
class Recorded:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def metric(self, name: str) -> dict[Attributes, float]:
        """A metric's current values by attribute set: sums for counters, counts for histograms."""
        values: dict[Attributes, float] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        key = frozenset(point.attributes.items()) if point.attributes else frozenset()
                        if isinstance(point, HistogramDataPoint):
                            values[key] = values.get(key, 0) + point.count
                        elif isinstance(point, NumberDataPoint):
                            values[key] = values.get(key, 0) + point.value
        return values

    def total(self, name: str, **attributes: str) -> float:
        """The sum of a metric's values over the attribute sets that include `attributes`."""
        wanted = set(attributes.items())
        return sum(value for key, value in self.metric(name).items() if wanted <= set(key))


@contextmanager
def recording(components: Sequence[str]) -> Iterator[Recorded]:
    """Tracing and metrics on for `components`, exported in memory; the process is back to off afterwards."""
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    observability = setup_observability(
        components, config=OtelConfig(), span_processors=[SimpleSpanProcessor(exporter)], metric_readers=[reader]
    )
    try:
        yield Recorded(exporter, reader)
    finally:
        observability.shutdown()


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None
