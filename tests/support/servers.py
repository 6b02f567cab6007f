"""Finding free ports and real local servers; a missing server skips the test unless CI requires it."""

from __future__ import annotations

import os
import socket

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip when the server is absent; with IOTMON_REQUIRE_SERVICES=1 (as in .ci/run) fail instead."""
    if reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("IOTMON_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " and IOTMON_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(message)
