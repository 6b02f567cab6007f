"""`iotmon dlq list|replay` against `iotmon up`, as an operator runs it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from iotmon.cli import build_parser
from iotmon.dlq import main
from services.runtime.keys import LocalSigningKey
from tests.support.mesh import iotmon_up
from tests.support.servers import free_port


def dlq(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "iotmon.cli", "dlq", *args, "--data-dir", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_list_and_replay_through_a_running_mesh(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with iotmon_up(data_dir, env={"IOTMON_TELEMETRY_STORE": "memory"}) as mesh:
        admin = {"Authorization": f"Bearer {mesh.token(role='admin')}"}
        device = httpx.post(
            f"{mesh.gateway}/devices", headers=admin, json={"deviceType": "temperature-sensor-v2", "name": "cli-sensor"}
        ).json()["deviceId"]
        t = int(time.time() * 1000) - 60_000
        records = [
            {"deviceId": device, "timestamp": t, "data": {"co2": -5}},
            {"deviceId": "dev-nobody", "timestamp": t, "data": {"co2": 5}},
        ]
        reply = httpx.post(f"{mesh.gateway}/telemetry", headers=admin, json={"records": records}).json()
        assert [f["reason"] for f in reply["failed"]] == ["OUT_OF_RANGE", "UNKNOWN_DEVICE"]
        address = mesh.addresses["telemetry"]

        listed = dlq("list", "--address", address, data_dir=data_dir)
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0] == "2 of 2 dead letters, newest first"
        assert any("OUT_OF_RANGE" in line and device in line for line in lines)
        assert any('"co2":-5' in line.replace(" ", "") for line in lines)

        only = dlq("list", "--reason", "UNKNOWN_DEVICE", "--address", address, data_dir=data_dir)
        assert only.stdout.splitlines()[0] == "1 of 1 dead letters, newest first"

        replayed = dlq("replay", "--device", device, "--address", address, data_dir=data_dir)
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.stdout.strip().startswith("replayed 1 dead letters: 0 accepted, 1 still failing")


def test_without_a_key_or_a_service_it_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert main(parser.parse_args(["dlq", "list", "--data-dir", str(tmp_path)])) == 2
    assert "no signing key" in capsys.readouterr().err
    LocalSigningKey.load_or_create(tmp_path / "keys")
    code = main(
        parser.parse_args(["dlq", "replay", "--data-dir", str(tmp_path), "--address", f"127.0.0.1:{free_port()}"])
    )
    assert code == 1
    assert "no telemetry service answers" in capsys.readouterr().err
