"""`iotmon up --port 0` as a child process on real ports, as a user runs it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BANNER_LINE = re.compile(r"^(?P<name>[a-z][a-z ]*?)\s{2,}(?P<value>\S+)")


@dataclass
class RunningMesh:
    process: subprocess.Popen[str]
    data_dir: Path
    gateway: str
    addresses: dict[str, str]
    admin_email: str
    admin_password: str
    output: list[str] = field(default_factory=list)

    def token(
        self, org: str = "org-demo", role: str = "admin", user: str = "dev-user", email: str | None = None
    ) -> str:
        args = [sys.executable, "-m", "iotmon.cli", "token", "--org", org, "--role", role, "--user", user]
        args += ["--data-dir", str(self.data_dir)] + (["--email", email] if email else [])
        return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout.strip()

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@contextmanager
def iotmon_up(
    data_dir: Path, env: dict[str, str] | None = None, timeout: float = 60, without: Sequence[str] = ()
) -> Iterator[RunningMesh]:
    """Start the mesh, wait for its banner, and always end the process (by PID) afterwards."""
    args = [sys.executable, "-m", "iotmon.cli", "up", "--port", "0", "--data-dir", str(data_dir)]
    args += [f"--without={service}" for service in without]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=os.environ | (env or {}),
    )
    try:
        mesh = _read_banner(proc, data_dir, timeout)
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=lambda: mesh.output.extend(proc.stdout or []), daemon=True).start()
        yield mesh
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@dataclass
class ServedService:
    process: subprocess.Popen[str]
    address: str


@contextmanager
def iotmon_serve(
    service: str, data_dir: Path, port: int, env: dict[str, str] | None = None, timeout: float = 60
) -> Iterator[ServedService]:
    """`iotmon serve <service>` as a child process (the deployed layout: one service per process)."""
    args = [sys.executable, "-m", "iotmon.cli", "serve", service, "--port", str(port), "--data-dir", str(data_dir)]
    # stderr goes to a file: shown when the service does not start, never a pipe that could fill up.
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, text=True, env=os.environ | (env or {}))
        try:
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()
            finally:
                timer.cancel()
            match = BANNER_LINE.match(line)
            if not match or match.group("name") != service:
                proc.wait(10)
                errors.seek(0)
                raise RuntimeError(f"iotmon serve {service} did not start: {line!r}\n{errors.read()[-4000:]}")
            threading.Thread(target=lambda: list(proc.stdout or []), daemon=True).start()
            yield ServedService(proc, match.group("value"))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _read_banner(proc: subprocess.Popen[str], data_dir: Path, timeout: float) -> RunningMesh:
    found: dict[str, str] = {}
    lines: list[str] = []
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            match = BANNER_LINE.match(line)
            if match:
                found[match.group("name")] = match.group("value")
            if line.startswith("demo admin"):
                email, _, password = line.split()[2:5]
                found["admin email"], found["admin password"] = email, password
            if line.startswith("Ctrl-C"):
                break
        else:
            raise RuntimeError("iotmon up exited before it was ready:\n" + "".join(lines))
    finally:
        timer.cancel()
    services = ("device", "telemetry", "alerting", "notification", "firmware", "analytics", "identity")
    return RunningMesh(
        proc,
        data_dir,
        found["gateway"],
        {name: found[name] for name in services},
        found["admin email"],
        found["admin password"],
        lines,
    )
