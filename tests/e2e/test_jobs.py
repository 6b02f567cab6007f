"""The scheduled jobs run as a CronJob runs them, `iotmon job <name> --data-dir …`, against `iotmon up`."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import Api
from tests.e2e.test_devices import register
from tests.e2e.test_telemetry import now_ms, reading
from tests.support.mesh import RunningMesh

DAY_MS = 86_400_000


def job(mesh: RunningMesh, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {f"IOTMON_{name.upper()}_ADDR": address for name, address in mesh.addresses.items()}
    return subprocess.run(
        [sys.executable, "-m", "iotmon.cli", "job", *args, "--data-dir", str(mesh.data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def sensor(admin: Api) -> str:
    return str(register(admin)["deviceId"])


def test_archival_moves_old_readings_to_parquet_and_keeps_recent_ones(
    mesh: RunningMesh, admin: Api, sensor: str
) -> None:
    now = now_ms()
    old_day = (now - 3 * DAY_MS) - (now - 3 * DAY_MS) % DAY_MS
    old = [reading(sensor, old_day + i * 60_000, temperature=20.0 + i) for i in range(5)]
    recent = [reading(sensor, now - 60_000, temperature=30.0)]
    assert admin.post("/telemetry", json={"records": old + recent}).json()["accepted"] == 6

    done = job(mesh, "archival", "--retention-days", "2")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "archival: done" in done.stdout

    day = datetime.fromtimestamp(old_day / 1000, UTC).strftime("%Y-%m-%d")
    path = mesh.data_dir / "objects" / "archive" / "telemetry" / "org_org-demo" / f"day_{day}" / "readings.parquet"
    table = pq.read_table(io.BytesIO(path.read_bytes()))
    # Every datapoint of the 5 old readings (sent and derived metrics) is in the file, and left the store.
    assert table.num_rows % 5 == 0
    assert f"rowsArchived {table.num_rows}, rowsDeleted {table.num_rows}" in done.stdout
    temperatures = sorted(
        row["value"] for row in table.to_pylist() if row["metric"] == "temperature" and row["device_id"] == sensor
    )
    assert temperatures == [20.0, 21.0, 22.0, 23.0, 24.0]

    history = admin.get(
        f"/devices/{sensor}/history", params={"startDate": _iso(old_day - DAY_MS), "endDate": _iso(now + 1000)}
    ).json()
    stamps = [point["timestamp"] for point in history["data"]]
    assert len(stamps) == 1  # only the recent reading is left in the hot store

    again = job(mesh, "archival", "--retention-days", "2")
    assert again.returncode == 0
    assert "rowsDeleted" not in again.stdout or "rowsDeleted 0" in again.stdout


def test_health_check_prints_every_check_and_exits_zero_when_healthy(mesh: RunningMesh) -> None:
    done = job(mesh, "health-check")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("service:telemetry", "service:alerting", "store:timeseries", "dlq:telemetry", "bus"):
        assert name in done.stdout
    assert "health-check: done: healthy" in done.stdout


def test_a_job_needs_the_key_of_the_mesh(mesh: RunningMesh, tmp_path: object) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iotmon.cli", "job", "archival", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no signing key" in done.stderr


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
