"""`iotmon up` as an operator sees it: it restarts with its data and signing key, and drains on SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.e2e.spec_payloads import REGISTER_DEVICE
from tests.support.mesh import iotmon_up


def test_data_and_tokens_survive_a_restart_and_sigterm_exits_zero(tmp_path: Path) -> None:
    with iotmon_up(tmp_path) as first:
        token = first.token(role="admin")
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{first.gateway}/devices", json=REGISTER_DEVICE, headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        password = first.admin_password
        assert first.stop(signal.SIGTERM) == 0
        assert "stopped" in "".join(first.output)
    with iotmon_up(tmp_path) as second:
        assert second.admin_password == password, "the demo admin is created once"
        fetched = httpx.get(f"{second.gateway}/devices/{created.json()['deviceId']}", headers=headers, timeout=30)
        assert fetched.status_code == 200, "a token minted before the restart stays valid and data persists"
        assert second.stop(signal.SIGINT) == 0
