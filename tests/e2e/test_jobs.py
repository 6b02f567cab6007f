"""The scheduled jobs run as a CronJob runs them, `iotmon job <name> --data-dir …`, against `iotmon up`."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from services.alerting.adapters.sqlite import SqliteAlertingStore
from services.alerting.domain.alerts import AlertStatus, UserRef
from tests.e2e.conftest import Api
from tests.e2e.test_devices import register
from tests.e2e.test_telemetry import now_ms, reading
from tests.support.mesh import RunningMesh, iotmon_up
from tests.support.smtp import SmtpInbox, smtp_server
from tests.unit.alerting.builders import an_alert

DAY_MS = 86_400_000
# The cleanup's alerts and the health check's system alert live in an organization of their own, so the other
# e2e tests sharing the mesh see none of them.
JOBS_ORG = "org-jobs-e2e"


def job(mesh: RunningMesh, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = (
        os.environ | {f"IOTMON_{name.upper()}_ADDR": address for name, address in mesh.addresses.items()} | (env or {})
    )
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


def insert_resolved_alert(mesh: RunningMesh, alert_id: str, resolved_at_ms: int) -> None:
    """Straight into the running mesh's SQLite alerting store, as if it had been resolved back then."""

    async def insert() -> None:
        store = SqliteAlertingStore(mesh.data_dir / "alerting.db")
        try:
            alert = an_alert(
                alert_id=alert_id,
                organization_id=JOBS_ORG,
                rule_id=f"rule-{alert_id}",
                device_id=f"dev-{alert_id}",
                triggered_at_ms=resolved_at_ms - 3_600_000,
            )
            assert await store.add_alert_unless_open_or_cooling(alert, 0)
            resolved = replace(
                alert,
                status=AlertStatus.RESOLVED,
                acknowledged_at_ms=resolved_at_ms - 60_000,
                resolved_at_ms=resolved_at_ms,
                resolved_by=UserRef("user-admin", "Admin"),
                resolution="replaced the sensor",
            )
            assert await store.save_alert(resolved, expected_status=AlertStatus.TRIGGERED)
        finally:
            await store.close()

    asyncio.run(insert())


@pytest.fixture(scope="module")
def jobs_admin(mesh: RunningMesh) -> Api:
    return Api(mesh, mesh.token(org=JOBS_ORG, role="admin", user="user-jobs-admin"))


def test_cleanup_archives_resolved_alerts_older_than_90_days_then_deletes_them(
    mesh: RunningMesh, jobs_admin: Api
) -> None:
    admin = jobs_admin
    now = now_ms()
    insert_resolved_alert(mesh, "alert-e2e-old", now - 120 * DAY_MS)
    insert_resolved_alert(mesh, "alert-e2e-recent", now - 10 * DAY_MS)
    assert admin.get("/alerts/alert-e2e-old").status_code == 200

    done = job(mesh, "cleanup")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "cleanup: done" in done.stdout
    assert "alertsArchived 1, alertsDeleted 1, filesWritten 1" in done.stdout

    day = datetime.fromtimestamp((now - 120 * DAY_MS) / 1000, UTC).strftime("%Y-%m-%d")
    path = (
        mesh.data_dir
        / "objects"
        / "archive"
        / "alerts"
        / f"org_{JOBS_ORG}"
        / f"day_{day}"
        / "alerts_alert-e2e-old.jsonl"
    )
    (line,) = [orjson.loads(text) for text in path.read_bytes().splitlines()]
    assert (line["alertId"], line["status"], line["resolution"]) == ("alert-e2e-old", "resolved", "replaced the sensor")
    assert admin.get("/alerts/alert-e2e-old").status_code == 404
    assert admin.get("/alerts/alert-e2e-recent").status_code == 200

    again = job(mesh, "cleanup")
    assert again.returncode == 0
    assert "alertsDeleted 0" in again.stdout


def test_an_unhealthy_check_exits_1_and_raises_one_system_alert(mesh: RunningMesh, jobs_admin: Api) -> None:
    admin = jobs_admin
    # The job sees the analytics service at a port nobody listens on: its check fails.
    unreachable = {
        "IOTMON_ANALYTICS_ADDR": "127.0.0.1:9",
        "IOTMON_JOBS_HEALTH_TIMEOUT_SECONDS": "2",
        "IOTMON_JOBS_HEALTH_ALERT_ORGANIZATION": JOBS_ORG,
    }
    for _ in range(2):
        done = job(mesh, "health-check", env=unreachable)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "health-check: FAILED: unhealthy: service:analytics" in done.stdout
    alerts = admin.get("/alerts", params={"status": "triggered", "pageSize": 100}).json()["items"]
    system = [a for a in alerts if a["ruleName"] == "Platform check failed: health"]
    assert len(system) == 1, system  # one while it is open, however often the job fails
    assert system[0]["severity"] == "critical"
    assert "service:analytics" in system[0]["condition"]


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpInbox]:
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture(scope="module")
def mailing_mesh(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpInbox) -> Iterator[RunningMesh]:
    """A mesh that emails over SMTP and flushes the gateway's API-call counts every half second."""
    env = {"IOTMON_SMTP_URL": smtp.url, "IOTMON_GATEWAY_USAGE_FLUSH_SECONDS": "0.5", "IOTMON_JOBS_SCHEDULE": "false"}
    with iotmon_up(Path(tmp_path_factory.mktemp("usage")), env) as running:
        yield running
        assert running.stop() == 0


def test_usage_report_is_emailed_to_admins_and_readable_by_them_only(
    mailing_mesh: RunningMesh, smtp: SmtpInbox
) -> None:
    signed_in = httpx.post(
        f"{mailing_mesh.gateway}/auth/token",
        json={"email": mailing_mesh.admin_email, "password": mailing_mesh.admin_password},
    )
    assert signed_in.status_code == 200, signed_in.text
    admin = Api(mailing_mesh, signed_in.json()["accessToken"])
    device = str(register(admin)["deviceId"])
    now = now_ms()
    records = [reading(device, now - 1000 * i) for i in range(7)]
    assert admin.post("/telemetry", json={"records": records}).json()["accepted"] == 7
    for _ in range(5):
        assert admin.get("/devices").status_code == 200
    time.sleep(2)  # the gateway's flush (0.5 s) and the analytics consumers
    month = datetime.now(UTC).strftime("%Y-%m")

    done = job(mailing_mesh, "usage-report", "--month", month)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "usage-report: done" in done.stdout
    assert "reports 1" in done.stdout

    (mail,) = smtp.wait_for(1, timeout=30)
    assert str(mail["To"]) == mailing_mesh.admin_email
    assert str(mail["Subject"]).startswith(f"Usage report {month}: USD ")
    body = mail.get_body(("plain",))
    assert body is not None
    assert "Messages:        7" in body.get_content()

    report = admin.get("/analytics/usage", params={"month": month})
    assert report.status_code == 200, report.text
    usage = report.json()
    assert (usage["organizationId"], usage["month"], usage["messages"], usage["devices"]) == ("org-demo", month, 7, 1)
    assert usage["apiCalls"] >= 7  # registration, the post and the listings, at least
    assert usage["dataVolume"] >= 7 * 4 * 16
    assert usage["dataVolume"] % 16 == 0
    assert usage["currency"] == "USD"
    assert usage["estimatedCost"] >= 0.1  # one device-month

    viewer = Api(mailing_mesh, mailing_mesh.token(role="viewer", user="user-viewer"))
    assert viewer.get("/analytics/usage", params={"month": month}).status_code == 403
    assert admin.get("/analytics/usage", params={"month": "2025-13"}).status_code == 400
    assert job(mailing_mesh, "usage-report", "--month", month).returncode == 0  # a rerun mails nobody again
    time.sleep(1)
    assert len(smtp.received()) == 1


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
