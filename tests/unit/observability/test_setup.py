"""setup_observability: nothing loaded when off, resources named per component, the Prometheus endpoint."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from services.runtime.otel import hooks
from services.runtime.otel.config import OtelConfig
from services.runtime.otel.setup import setup_observability
from services.runtime.otel.tracing import Tracing
from tests.support.otel import recording, service_of


def test_off_loads_no_opentelemetry_code_and_installs_no_hooks() -> None:
    """Run in a fresh interpreter: the mesh's own modules and setup, with no OTEL_* variable set."""
    script = (
        "import sys, iotmon.run, gateway.app, services.runtime.bus_rabbitmq\n"
        "from services.runtime.otel import hooks\n"
        "from services.runtime.otel.setup import setup_observability\n"
        "handle = setup_observability(['device', 'gateway'])\n"
        "assert not handle.enabled and hooks.tracing is None and hooks.metrics is None\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "assert not loaded, loaded\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_shutdown_turns_the_hooks_off_again() -> None:
    with recording(["device"]):
        assert isinstance(hooks.tracing, Tracing)
        assert hooks.metrics is not None
    assert hooks.tracing is None
    assert hooks.metrics is None


def test_each_component_of_a_mesh_process_keeps_its_own_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "ignored-with-several-components")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,service.namespace=acme")
    with recording(["device", "gateway"]) as recorded:
        assert hooks.tracing is not None
        for component in ("device", "gateway", None):
            with hooks.tracing.tracer(component).start_as_current_span(f"work of {component}"):
                pass
        spans = {span.name: span for span in recorded.spans()}
    assert service_of(spans["work of device"]) == "iotmon-device"
    assert service_of(spans["work of gateway"]) == "iotmon-gateway"
    assert service_of(spans["work of None"]) == "iotmon"  # no component: the mesh process itself
    attributes = spans["work of device"].resource.attributes
    assert attributes["deployment.environment"] == "test"
    assert attributes["service.namespace"] == "acme"  # the operator's resource attributes win over ours


def test_a_single_component_process_takes_otel_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "devices-eu-1")
    with recording(["device"]) as recorded:
        assert hooks.tracing is not None
        with hooks.tracing.tracer("gateway").start_as_current_span("anything"):
            pass
        (span,) = recorded.spans()
    assert service_of(span) == "devices-eu-1"
    assert span.resource.attributes["service.namespace"] == "iotmon"


def test_without_otel_service_name_a_process_is_named_after_its_component(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    with recording(["telemetry"]) as recorded:
        assert hooks.tracing is not None
        with hooks.tracing.tracer().start_as_current_span("anything"):
            pass
        (span,) = recorded.spans()
    assert service_of(span) == "iotmon-telemetry"


def test_prometheus_serves_the_metrics_on_its_own_port() -> None:
    config = OtelConfig(metrics=("prometheus",), prometheus_host="127.0.0.1", prometheus_port=0)
    observability = setup_observability(["device"], config=config)
    try:
        assert hooks.tracing is None  # metrics only
        assert observability.prometheus_port
        hooks.count_device_registered()
        hooks.count_device_registered()
        scraped = httpx.get(f"http://127.0.0.1:{observability.prometheus_port}/metrics", timeout=10).text
    finally:
        observability.shutdown()
    (registered,) = [line for line in scraped.splitlines() if line.startswith("iotmon_devices_registered_total{")]
    assert registered.endswith("} 2.0")
    assert 'service_name="iotmon-device"' in scraped  # target_info carries the resource
