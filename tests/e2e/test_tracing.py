"""One REST call, one trace across the mesh: gateway → gRPC → telemetry → bus → alerting → bus → notification.

The mesh runs in this process (as `iotmon up` composes it, on real ports) with OpenTelemetry exporting to
memory, once on the in-process bus and once on RabbitMQ, where the context can only cross in AMQP headers.
The same calls move the spec's metrics, and the JSON log lines of the call carry its trace and span ids.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from iotmon.mesh import Mesh, start_mesh
from services.runtime.logging import JsonFormatter
from services.runtime.settings import SERVICE_NAMES, RuntimeSettings
from tests.support.otel import Recorded, parent_id, recording, service_of
from tests.support.rabbitmq import AMQP_URL, delete_namespace
from tests.support.servers import require_server

ADMIN_EMAIL = "ops@example.com"
HOT_RULE = {
    "name": "Hot office",
    "deviceType": "temperature-sensor-v2",
    "deviceIds": [],
    "condition": {"metric": "temperature", "operator": ">", "threshold": 40, "duration": 0},
    "severity": "critical",
    "actions": {"notifications": ["email"], "webhooks": []},
    "cooldownPeriod": 900,
    "schedule": {"type": "always"},
}
INGEST = "iot.telemetry.v1.TelemetryService/IngestTelemetry"


class JsonLines(logging.Handler):
    """The mesh's log lines, formatted as they are written (inside the span that is running then)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(orjson.loads(self.format(record)))


@dataclass
class TracedMesh:
    mesh: Mesh
    recorded: Recorded
    api: httpx.AsyncClient
    logs: JsonLines

    async def register_device(self) -> str:
        body = {"deviceType": "temperature-sensor-v2", "name": f"office-{secrets.token_hex(3)}"}
        created = await self.api.post("/devices", json=body)
        assert created.status_code == 201, created.text
        device_id: str = created.json()["deviceId"]
        return device_id

    async def spans_until(self, done: Callable[[list[ReadableSpan]], bool], within: float = 20) -> list[ReadableSpan]:
        deadline = time.monotonic() + within
        while True:
            spans = self.recorded.spans()
            if done(spans) or time.monotonic() > deadline:
                return spans
            await asyncio.sleep(0.05)


@pytest.fixture(params=["in-process bus", "RabbitMQ bus"])
async def traced(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TracedMesh]:
    settings = RuntimeSettings(data_dir=tmp_path / "data", host="127.0.0.1")
    prefix = None
    if request.param == "RabbitMQ bus":
        require_server("RabbitMQ", "127.0.0.1", 5672)
        prefix = "otel-" + uuid.uuid4().hex[:8]
        settings = settings.model_copy(
            update={"amqp_url": AMQP_URL, "bus_exchange": f"{prefix}.events", "bus_queue_prefix": prefix}
        )
    password = secrets.token_urlsafe(12)
    monkeypatch.setenv("IOTMON_IDENTITY_BOOTSTRAP_ORG", "org-traced")
    monkeypatch.setenv("IOTMON_IDENTITY_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
    monkeypatch.setenv("IOTMON_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD", password)
    logs = JsonLines()
    iotmon_logger = logging.getLogger("iotmon")
    level = iotmon_logger.level
    iotmon_logger.setLevel(logging.INFO)
    iotmon_logger.addHandler(logs)
    try:
        with recording([*SERVICE_NAMES, "gateway"]) as recorded:
            ports = dict.fromkeys(SERVICE_NAMES, 0)
            mesh = await start_mesh(settings, list(SERVICE_NAMES), service_ports=ports, gateway_port=0)
            try:
                async with httpx.AsyncClient(base_url=mesh.gateway_url or "", timeout=30) as api:
                    signed_in = await api.post("/auth/token", json={"email": ADMIN_EMAIL, "password": password})
                    assert signed_in.status_code == 200, signed_in.text
                    api.headers["Authorization"] = f"Bearer {signed_in.json()['accessToken']}"
                    yield TracedMesh(mesh, recorded, api, logs)
            finally:
                await mesh.stop()
    finally:
        iotmon_logger.removeHandler(logs)
        iotmon_logger.setLevel(level)
        if prefix is not None:
            await asyncio.to_thread(delete_namespace, prefix)


def span_named(spans: list[ReadableSpan], service: str, kind: SpanKind, name: str) -> ReadableSpan:
    found = [s for s in spans if (service_of(s), s.kind, s.name) == (service, kind, name)]
    assert len(found) == 1, f"{service} {kind.name} {name}: {len(found)} spans"
    return found[0]


def lineage(span: ReadableSpan, spans: list[ReadableSpan]) -> list[tuple[str, str, str]]:
    """The span and its ancestors in this trace, nearest first, as (service, kind, name)."""
    by_id = {s.context.span_id: s for s in spans}
    chain: list[tuple[str, str, str]] = []
    current: ReadableSpan | None = span
    while current is not None:
        chain.append((service_of(current), current.kind.name, current.name))
        parent = parent_id(current)
        current = by_id.get(parent) if parent is not None else None
    return chain


async def test_a_hot_reading_is_one_trace_from_the_gateway_to_the_notification(traced: TracedMesh) -> None:
    device_id = await traced.register_device()
    rule = await traced.api.post("/alert-rules", json=HOT_RULE)
    assert rule.status_code == 201, rule.text
    traced.recorded.exporter.clear()
    client_trace, client_span = secrets.token_hex(16), secrets.token_hex(8)
    reading = {"deviceId": device_id, "timestamp": int(time.time() * 1000), "data": {"temperature": 47.5}}

    posted = await traced.api.post(
        "/telemetry", json={"records": [reading]}, headers={"traceparent": f"00-{client_trace}-{client_span}-01"}
    )

    assert posted.status_code == 200, posted.text
    assert posted.json()["accepted"] == 1

    def delivered(spans: list[ReadableSpan]) -> bool:
        return any(s.name == "process notification.delivered" for s in spans)

    spans = [s for s in await traced.spans_until(delivered) if format_trace_id(s.context.trace_id) == client_trace]
    services = {service_of(s) for s in spans}
    assert {"iotmon-gateway", "iotmon-telemetry", "iotmon-alerting", "iotmon-notification"} <= services

    # The alert's notification, followed back to the REST call: every hop is the child of the one before.
    notified = span_named(spans, "iotmon-notification", SpanKind.CONSUMER, "process alerting.alert_triggered")
    assert lineage(notified, spans) == [
        ("iotmon-notification", "CONSUMER", "process alerting.alert_triggered"),
        ("iotmon-alerting", "PRODUCER", "publish alerting.alert_triggered"),
        ("iotmon-alerting", "CONSUMER", "process telemetry.readings_stored"),
        ("iotmon-telemetry", "PRODUCER", "publish telemetry.readings_stored"),
        ("iotmon-telemetry", "SERVER", INGEST),
        ("iotmon-gateway", "CLIENT", INGEST),
        ("iotmon-gateway", "SERVER", "POST /telemetry"),
    ]
    request = span_named(spans, "iotmon-gateway", SpanKind.SERVER, "POST /telemetry")
    assert parent_id(request) == int(client_span, 16), "the gateway continues the caller's trace"
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/telemetry"
    assert request.attributes["http.response.status_code"] == 200
    server = span_named(spans, "iotmon-telemetry", SpanKind.SERVER, INGEST)
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == 0
    # Telemetry asked the device service about the device within the same trace.
    lookups = [s for s in spans if service_of(s) == "iotmon-device" and s.kind is SpanKind.SERVER]
    assert lookups, "the device lookup is part of the trace"
    # The delivery's announcement goes on from the notification's consumer span to alerting.
    announced = span_named(spans, "iotmon-notification", SpanKind.PRODUCER, "publish notification.delivered")
    assert parent_id(announced) == notified.context.span_id
    counted = span_named(spans, "iotmon-alerting", SpanKind.CONSUMER, "process notification.delivered")
    assert parent_id(counted) == announced.context.span_id

    # The call's log lines carry its ids: the gateway's access line its request span, the service's its own.
    http_line = next(
        line for line in traced.logs.lines if line["logger"] == "iotmon.http" and line["path"] == "/telemetry"
    )
    assert http_line["trace_id"] == client_trace
    assert http_line["span_id"] == format_span_id(request.context.span_id)
    rpc_line = next(line for line in traced.logs.lines if line.get("method") == f"/{INGEST}")
    assert rpc_line["trace_id"] == client_trace
    assert rpc_line["span_id"] == format_span_id(server.context.span_id)


async def test_the_spec_metrics_follow_what_the_mesh_does(traced: TracedMesh) -> None:
    recorded = traced.recorded
    before = {
        "registered": recorded.total("iotmon.devices.registered"),
        "ingested": recorded.total("iotmon.telemetry.readings.ingested"),
        "received": recorded.total("iotmon.telemetry.readings.received", source="http"),
        "dead": recorded.total("iotmon.telemetry.dead_letters", reason="UNKNOWN_DEVICE"),
        "alerts": recorded.total("iotmon.alerts.generated", severity="critical"),
        "emails": recorded.total("iotmon.notification.deliveries", channel="email", outcome="sent"),
        "lag": recorded.total("iotmon.bus.consumer.lag", **{"messaging.consumer.group.name": "alerting"}),
    }

    device_id = await traced.register_device()
    assert recorded.total("iotmon.devices.registered") == before["registered"] + 1
    assert (await traced.api.post("/alert-rules", json=HOT_RULE)).status_code == 201
    now_ms = int(time.time() * 1000)
    records = [
        {"deviceId": device_id, "timestamp": now_ms, "data": {"temperature": 45.0}},
        {"deviceId": device_id, "timestamp": now_ms + 1, "data": {"temperature": 21.0}},
        {"deviceId": "dev-nobody", "timestamp": now_ms, "data": {"temperature": 20.0}},
    ]
    posted = await traced.api.post("/telemetry", json={"records": records})
    assert posted.json()["accepted"] == 2

    assert recorded.total("iotmon.telemetry.readings.ingested") == before["ingested"] + 2
    assert recorded.total("iotmon.telemetry.readings.received", source="http") == before["received"] + 3
    assert recorded.total("iotmon.telemetry.dead_letters", reason="UNKNOWN_DEVICE") == before["dead"] + 1
    # On RabbitMQ the alert, its email and alerting's hearing of it happen after the call returned.
    lag_of_alerting = {"messaging.consumer.group.name": "alerting"}
    deadline = time.monotonic() + 20
    while (
        recorded.total("iotmon.notification.deliveries", channel="email", outcome="sent") == before["emails"]
        or recorded.total("iotmon.bus.consumer.lag", **lag_of_alerting) < before["lag"] + 2
    ):
        assert time.monotonic() < deadline, "no email delivery, or alerting did not hear of it"
        await asyncio.sleep(0.05)
    assert recorded.total("iotmon.alerts.generated", severity="critical") == before["alerts"] + 1
    assert recorded.total("iotmon.notification.deliveries", channel="email", outcome="sent") == before["emails"] + 1
    # alerting consumed at least the readings and the delivery notice, each with its age measured.
    assert (
        recorded.total("iotmon.bus.consumer.lag", **{"messaging.consumer.group.name": "alerting"}) >= before["lag"] + 2
    )
