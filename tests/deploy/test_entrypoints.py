"""The commands the chart runs, run here as the pods would: no cluster, the same entrypoints and probes."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.deploy.conftest import check_deploy, of_kind
from tests.support.mesh import iotmon_serve
from tests.support.servers import free_port

LOCAL = {"IOTMON_HOST": "127.0.0.1"}  # the chart binds 0.0.0.0; tests stay on loopback


def chart_args(render, name: str) -> list[str]:
    deployment = of_kind(render(), "Deployment")[f"{check_deploy.RELEASE}-{name}"]
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_a_service_answers_the_kubelet_grpc_probe(render, tmp_path: Path) -> None:
    """Kubernetes' gRPC probe asks grpc.health.v1 Check with an empty service name."""
    port = free_port()
    assert chart_args(render, "device")[:2] == ["serve", "device"]
    with iotmon_serve("device", tmp_path, port, env=LOCAL) as served:
        with grpc.insecure_channel(served.address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(30) == 0  # drains and exits cleanly, as on a pod's termination


def test_gateway_is_alive_but_not_ready_while_its_upstreams_are_down(render, tmp_path: Path) -> None:
    """Liveness (/healthz) must not restart a gateway that waits for services; readiness (/readyz) holds traffic."""
    assert chart_args(render, "gateway")[:2] == ["serve", "gateway"]
    nowhere = {f"IOTMON_{name.upper()}_ADDR": f"127.0.0.1:{free_port()}" for name in grpc_services(render)}
    port = free_port()
    with iotmon_serve("gateway", tmp_path, port, env=LOCAL | nowhere) as served:
        base = served.address if served.address.startswith("http") else f"http://{served.address}"
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 503


def grpc_services(render) -> list[str]:
    return [
        d["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in of_kind(render(), "Deployment").values()
        if d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] == "grpc"
    ]


class Output:
    """Lines of a child's stdout, read on a thread, waited for by content."""

    def __init__(self, process: subprocess.Popen[str]):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        for line in process.stdout or []:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_count(self, prefix: str, count: int, timeout: float) -> None:
        def enough() -> bool:
            return sum(line.startswith(prefix) for line in self.lines) >= count

        with self._changed:
            if not self._changed.wait_for(enough, timeout):
                raise AssertionError(f"no {count}× {prefix!r} in {timeout} s:\n{''.join(self.lines)[-3000:]}")


@pytest.fixture
def reloading_mesh(render, tmp_path: Path) -> Iterator[tuple[Path, Output]]:
    """values-dev's command (watchfiles around `iotmon up`), in a scratch tree standing in for /app."""
    [deployment] = of_kind(render(*check_deploy.VALUE_SETS["dev"]), "Deployment").values()
    command = list(deployment["spec"]["template"]["spec"]["containers"][0]["command"])
    assert command[0] == "watchfiles"
    command[0] = str(Path(sys.executable).with_name("watchfiles"))
    up = next(n for n, part in enumerate(command) if part.startswith("iotmon up"))
    inner = shlex.split(command[up])
    inner[:1] = [sys.executable, "-m", "iotmon.cli"]
    inner[inner.index("--port") + 1] = "0"  # free ports for the gateway and every service
    command[up] = shlex.join([*inner, "--data-dir", str(tmp_path / "data")])
    app = tmp_path / "app"
    for package in ("services", "gateway", "iotmon"):
        (app / package).mkdir(parents=True)
    process = subprocess.Popen(
        command,
        cwd=app,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ | LOCAL,
        start_new_session=True,  # its own process group: the mesh it starts ends with it
    )
    try:
        yield app, Output(process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_dev_pod_restarts_iotmon_up_when_a_synced_python_file_changes(reloading_mesh) -> None:
    app, output = reloading_mesh
    output.wait_count("Ctrl-C stops it.", 1, timeout=90)
    (app / "gateway" / "notes.txt").write_text("not Python: ignored\n")
    time.sleep(1.0)
    (app / "services" / "changed.py").write_text("VALUE = 1\n")  # what skaffold's sync does
    output.wait_count("stopped", 1, timeout=60)
    output.wait_count("Ctrl-C stops it.", 2, timeout=90)
    assert sum(line.startswith("Ctrl-C stops it.") for line in output.lines) == 2  # the .txt restarted nothing
