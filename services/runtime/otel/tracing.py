"""Spans at the mesh's boundaries, and W3C trace context across them.

One span per HTTP request (gateway), per gRPC call on each side (client and server), per bus publish and per
event a consumer handles: never per reading. Context crosses gRPC in the `traceparent`/`tracestate` metadata,
RabbitMQ in AMQP message headers, and the in-process bus in the carrier handed from publish to delivery.

Each span belongs to a *component* (a service or the gateway), so that `iotmon up`, which runs them all in
one process, still shows one service per hop: each component has its own TracerProvider and resource
(`service.name`). The component of a server span is the package of the gRPC service (`iot.<component>.v1`),
of a consumer span the package of the handler (`services.<component>.…`, `gateway.…`) or else its group,
and of a client or producer span the component of the span running when it starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, format_span_id, format_trace_id

from services.runtime.context import traceparent_var
from services.runtime.settings import SERVICE_NAMES

GATEWAY = "gateway"
COMPONENTS = frozenset((*SERVICE_NAMES, GATEWAY))

# gRPC codes a server answers for its own failure (OpenTelemetry's RPC semantic conventions).
_SERVER_ERRORS = frozenset({2, 4, 12, 13, 14, 15})


@dataclass
class ClientCall:
    """An outgoing call's span and the metadata that carries its context to the callee."""

    span: Span
    carrier: dict[str, str] = field(default_factory=dict)

    def code(self, value: int, name: str) -> None:
        self.span.set_attribute("rpc.grpc.status_code", value)
        if value != 0:
            self.span.set_status(Status(StatusCode.ERROR, name))


class Tracing:
    def __init__(self, tracers: Mapping[str, Tracer], default_component: str):
        self._tracers = dict(tracers)
        self._default = default_component
        # The SDK's spans keep their tracer's resource: the running span tells whose work this is.
        self._by_resource = {id(getattr(tracer, "resource", None)): tracer for tracer in self._tracers.values()}
        self._fields = frozenset(propagate.get_global_textmap().fields)
        self._rpc_names: dict[str, tuple[str, dict[str, str]]] = {}

    @property
    def fields(self) -> frozenset[str]:
        """The header/metadata keys the configured propagators use (traceparent, tracestate, baggage)."""
        return self._fields

    def tracer(self, component: str | None = None) -> Tracer:
        """The component's tracer; without one, the tracer of the component whose span is running."""
        if component is None:
            resource = getattr(trace.get_current_span(), "resource", None)
            found = self._by_resource.get(id(resource)) if resource is not None else None
            return found or self._tracers[self._default]
        return self._tracers.get(component) or self._tracers[self._default]

    @staticmethod
    def current_ids() -> tuple[str, str] | None:
        """(trace_id, span_id) in hex, as OpenTelemetry prints them, when a span is running."""
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return format_trace_id(context.trace_id), format_span_id(context.span_id)

    # gRPC

    @contextmanager
    def rpc_server(self, method: str, metadata: Iterable[tuple[str, str | bytes]]) -> Iterator[Span]:
        """The server span of one call, a child of the caller's context found in the metadata."""
        name, attributes = self._rpc(method)
        component = _component_of_rpc(attributes["rpc.service"]) or self._default
        parent = self.extract({k: _text(v) for k, v in metadata if k in self._fields})
        with self._current(component, name, SpanKind.SERVER, parent, attributes) as span:
            yield span

    def rpc_server_code(self, value: int, name: str) -> None:
        """Record the running server span's status code (an error only for the server's own failures)."""
        span = trace.get_current_span()
        span.set_attribute("rpc.grpc.status_code", value)
        if value in _SERVER_ERRORS:
            span.set_status(Status(StatusCode.ERROR, name))

    @contextmanager
    def rpc_client(self, method: str) -> Iterator[ClientCall]:
        """A client span; its context goes out in `carrier`, which replaces any traceparent forwarded as is."""
        name, attributes = self._rpc(method)
        with self.tracer().start_as_current_span(
            name, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            call = ClientCall(span)
            propagate.inject(call.carrier)
            yield call

    @staticmethod
    def context_carrier() -> dict[str, str]:
        """The running span's context as headers, for a hop that gets no span of its own."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return carrier

    def _rpc(self, method: str) -> tuple[str, dict[str, str]]:
        known = self._rpc_names.get(method)
        if known is None:
            service, _, rpc_method = method.lstrip("/").partition("/")
            attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc_method}
            known = self._rpc_names[method] = (f"{service}/{rpc_method}", attributes)
        return known

    # HTTP (the gateway)

    @contextmanager
    def http_server(self, method: str, headers: Iterable[tuple[bytes, bytes]]) -> Iterator[Span]:
        """The gateway's span of one request; named by its route once the route is known (http_done)."""
        fields = self._fields
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k.decode("latin-1") in fields}
        attributes = {"http.request.method": method}
        with self._current(GATEWAY, method, SpanKind.SERVER, self.extract(carrier), attributes) as span:
            yield span

    @staticmethod
    def http_done(span: Span, method: str, route: str | None, status: int) -> None:
        if route:
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500 or status == 0:
            span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))

    # The event bus

    @contextmanager
    def publish(self, routing_key: str, system: str) -> Iterator[dict[str, str]]:
        """A producer span around one publish; yields the headers that carry its context to the consumers."""
        attributes = {
            "messaging.system": system,
            "messaging.operation.type": "send",
            "messaging.destination.name": routing_key,
        }
        with self.tracer().start_as_current_span(
            f"publish {routing_key}", kind=SpanKind.PRODUCER, attributes=attributes
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            yield carrier

    @contextmanager
    def consume(
        self, routing_key: str, headers: Mapping[str, Any], handler: object, group: str | None, system: str
    ) -> Iterator[Span]:
        """A consumer span, a child of the publisher's context found in the message's headers."""
        carrier = {k: _text(v) for k, v in headers.items() if k in self._fields}
        attributes: dict[str, str] = {
            "messaging.system": system,
            "messaging.operation.type": "process",
            "messaging.destination.name": routing_key,
        }
        if group is not None:
            attributes["messaging.consumer.group.name"] = group
        component = component_of_handler(handler, group) or self._default
        parent = self.extract(carrier)
        with self._current(component, f"process {routing_key}", SpanKind.CONSUMER, parent, attributes) as span:
            yield span

    # Shared

    @staticmethod
    def extract(carrier: Mapping[str, str]) -> Context | None:
        return propagate.extract(carrier) if carrier else None

    @contextmanager
    def _current(
        self, component: str, name: str, kind: SpanKind, parent: Context | None, attributes: Mapping[str, str]
    ) -> Iterator[Span]:
        """Start a span of `component` as the current one; its traceparent becomes the request's own (what
        EventMeta.traceparent and the forwarded metadata carry). Exceptions do not mark it failed by
        themselves: a NOT_FOUND or a retried handler is not the server's failure; callers set the status."""
        with self.tracer(component).start_as_current_span(
            name,
            context=parent,
            kind=kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            traceparent_token = traceparent_var.set(_traceparent(span))
            try:
                yield span
            finally:
                traceparent_var.reset(traceparent_token)


def component_of_handler(handler: object, group: str | None) -> str | None:
    """The component a bus handler belongs to: its module's package, else its group's name."""
    target = getattr(handler, "func", handler)  # functools.partial
    module = getattr(target, "__module__", None) or type(target).__module__
    parts = module.split(".")
    if parts[0] == GATEWAY:
        return GATEWAY
    if parts[0] == "services" and len(parts) > 1 and parts[1] in COMPONENTS:
        return parts[1]
    return group if group in COMPONENTS else None


def _component_of_rpc(service: str) -> str | None:
    """iot.device.v1.DeviceService → device."""
    parts = service.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "iot" and parts[1] in COMPONENTS else None


def _traceparent(span: Span) -> str:
    context = span.get_span_context()
    flags = int(context.trace_flags)
    return f"00-{format_trace_id(context.trace_id)}-{format_span_id(context.span_id)}-{flags:02x}"


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)
