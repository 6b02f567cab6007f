"""Shared pieces of the benchmark scripts: processes on free ports, `iotmon up`, wrk."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

BENCH = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def process(args: list[str], **kwargs: object) -> Iterator[subprocess.Popen[str]]:
    """A child process ended by its PID (SIGTERM, then SIGKILL) whatever happens."""
    proc = subprocess.Popen(args, text=True, **kwargs)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# One token drives each benchmark's load: the gateway's per-token rate limit (docs/security.md) is off, or the
# figures would measure 429s.
UNLIMITED = {"IOTMON_GATEWAY_RATE_LIMIT_PER_SECOND": "0"}


class Up(NamedTuple):
    gateway: str  # its URL
    banner: dict[str, str]  # the banner's name → address lines
    pid: int


@contextmanager
def iotmon_up(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Up]:
    """`iotmon up --port 0`; yields the gateway URL, the banner's lines and the process id once it is ready."""
    env = os.environ | UNLIMITED | {"IOTMON_DATA_DIR": str(data_dir)} | (extra_env or {})
    args = [iotmon_bin(), "up", "--port", "0", "--data-dir", str(data_dir)]
    with process(args, stdout=subprocess.PIPE, env=env) as proc:
        lines: dict[str, str] = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.match(r"^(\w[\w ]*?)\s{2,}(\S+)", line)
            if match:
                lines[match.group(1).strip()] = match.group(2)
            if line.startswith("Ctrl-C"):
                break
        else:
            raise RuntimeError("iotmon up exited before it was ready")
        yield Up(lines["gateway"], lines, proc.pid)


def iotmon_bin() -> str:
    return shutil.which("iotmon") or str(Path(sys.executable).parent / "iotmon")


@contextmanager
def iotmon_serve(service: str, port: int, data_dir: Path, env: dict[str, str] | None = None) -> Iterator[int]:
    """`iotmon serve <service>` in its own process, as one pod of the Kubernetes deployment; yields its process
    id once the service printed its address line, which it does when ready (its bus subscriptions bound)."""
    args = [iotmon_bin(), "serve", service, "--port", str(port), "--data-dir", str(data_dir), "--log-level", "WARNING"]
    with process(args, stdout=subprocess.PIPE, env=os.environ | UNLIMITED | (env or {})) as proc:
        assert proc.stdout is not None
        if not proc.stdout.readline():
            raise RuntimeError(f"iotmon serve {service} did not start")
        yield proc.pid


@contextmanager
def rabbitmq_namespace() -> Iterator[dict[str, str]]:
    """The environment for processes to share a fresh exchange and queue prefix on the local RabbitMQ; the
    run's queues and exchange are deleted afterwards. Needs the repository root on sys.path (tests.support)."""
    from tests.support.rabbitmq import AMQP_URL, delete_namespace

    prefix = "bench-" + uuid.uuid4().hex[:8]
    try:
        yield {
            "IOTMON_AMQP_URL": AMQP_URL,
            "IOTMON_BUS_EXCHANGE": f"{prefix}.events",
            "IOTMON_BUS_QUEUE_PREFIX": prefix,
        }
    finally:
        delete_namespace(prefix)


@dataclass(frozen=True)
class Deployed:
    gateway: str  # its URL
    addresses: dict[str, str]  # service name → host:port
    pids: list[int]  # of every process, the gateway's included


@contextmanager
def deployed_layout(data_dir: Path, env: dict[str, str], services: Sequence[str]) -> Iterator[Deployed]:
    """One `iotmon serve` process per service (in the order given) and one for the gateway, as the Helm chart
    runs them; `env` must name a shared bus (IOTMON_AMQP_URL) for them to talk."""
    ports = {name: free_port() for name in (*services, "gateway")}
    addresses = {name: f"127.0.0.1:{ports[name]}" for name in services}
    env = env | {f"IOTMON_{name.upper()}_ADDR": address for name, address in addresses.items()}
    with ExitStack() as stack:
        pids = [stack.enter_context(iotmon_serve(name, ports[name], data_dir, env)) for name in (*services, "gateway")]
        yield Deployed(f"http://127.0.0.1:{ports['gateway']}", addresses, pids)


def wrk(url: str, *, seconds: int, connections: int, headers: dict[str, str] | None = None) -> float:
    """Requests per second measured by wrk (apt-get install wrk); non-2xx answers fail the benchmark."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    for key, value in (headers or {}).items():
        args += ["-H", f"{key}: {value}"]
    out = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors from {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
