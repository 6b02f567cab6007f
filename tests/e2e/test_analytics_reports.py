"""Issue 7, reports and exports over HTTP against `iotmon up`: a PDF report is requested (exactly reportId,
status and estimatedCompletionTime), polled until completed and downloaded through its presigned link without
a token (a tampered signature is refused), and pdftoppm renders it; a CSV export of readings posted here has
exactly their rows. The module works in an organization of its own."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Api, minutes_ago_today
from tests.e2e.test_devices import assert_error, register
from tests.support.mesh import RunningMesh

MINUTE = 60_000


@pytest.fixture(scope="module")
def analyst(mesh: RunningMesh) -> Api:
    return Api(mesh, mesh.token(org="org-reports", role="admin", user="user-reporter"))


def poll(api: Api, path: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(path)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.3)


def post_readings(api: Api, devices: list[str], start: int) -> list[tuple[int, str, str, float]]:
    """Five readings a minute apart per device; the datapoints as the export should list them."""
    expected: list[tuple[int, str, str, float]] = []
    records: list[dict[str, Any]] = []
    for k, device in enumerate(devices):
        for i in range(5):
            data = {"temperature": 20 + i + k / 10, "humidity": 40.5}
            records.append({"deviceId": device, "timestamp": start + i * MINUTE, "data": data})
            expected += [(start + i * MINUTE, device, metric, float(value)) for metric, value in data.items()]
    response = api.post("/telemetry", json={"records": records})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(records)
    return sorted(expected)


def test_a_pdf_report_is_queued_built_and_downloaded(analyst: Api, tmp_path: Path) -> None:
    devices = [str(register(analyst)["deviceId"]) for _ in range(2)]
    today = datetime.now(UTC).date().isoformat()
    post_readings(analyst, devices, minutes_ago_today(30))
    response = analyst.post(
        "/analytics/reports",
        json={
            "reportType": "device-uptime",
            "parameters": {"deviceIds": devices, "startDate": today, "endDate": today},
            "format": "pdf",
        },
    )
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued.keys() == {"reportId", "status", "estimatedCompletionTime"}
    assert queued["status"] == "queued"
    assert queued["estimatedCompletionTime"] > datetime.now(UTC).isoformat()[:19]

    report = poll(analyst, f"/analytics/reports/{queued['reportId']}")
    assert report["status"] == "completed", report
    assert report["reportType"] == "device-uptime"
    assert report["parameters"]["deviceIds"] == devices
    url = report["downloadUrl"]
    pdf = httpx.get(url, timeout=30)  # no token: the signature is the permission
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    tampered = url.replace("signature=", "signature=0")
    assert httpx.get(tampered, timeout=30).status_code == 403
    if shutil.which("pdftoppm"):
        (tmp_path / "report.pdf").write_bytes(pdf.content)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "report.pdf", "page"], cwd=tmp_path, check=True
        )
        assert list(tmp_path.glob("page*.png"))


def test_alert_summary_and_data_volume_as_json_and_csv(analyst: Api) -> None:
    today = datetime.now(UTC).date().isoformat()
    for report_type, format in (("alert-summary", "json"), ("data-volume", "csv")):
        response = analyst.post(
            "/analytics/reports",
            json={"reportType": report_type, "parameters": {"startDate": today, "endDate": today}, "format": format},
        )
        assert response.status_code == 202, response.text
        report = poll(analyst, f"/analytics/reports/{response.json()['reportId']}")
        assert report["status"] == "completed", report
        content = httpx.get(report["downloadUrl"], timeout=30).content
        if format == "json":
            assert json.loads(content)["reportType"] == "alert-summary"
        else:
            rows = list(csv.reader(io.StringIO(content.decode())))
            assert rows[0] == ["day", "datapoints", "bytes"]
            assert rows[1][0] == today
            assert int(rows[1][1]) >= 20  # the readings this module posted (earlier test)


def test_report_requests_are_validated(analyst: Api, other_org_admin: Api) -> None:
    response = analyst.post(
        "/analytics/reports",
        json={
            "reportType": "uptime",
            "parameters": {"startDate": "2025-01-02", "endDate": "2025-01-01"},
            "format": "doc",
        },
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    fields = {f["field"] for f in response.json()["error"]["details"]["fields"]}
    assert {"reportType", "format", "parameters.endDate"} <= fields
    mine = str(register(analyst)["deviceId"])
    response = other_org_admin.post(
        "/analytics/reports",
        json={
            "reportType": "device-uptime",
            "parameters": {"deviceIds": [mine], "startDate": "2025-01-01", "endDate": "2025-01-01"},
            "format": "csv",
        },
    )
    assert_error(response, 404, "DEVICE_NOT_FOUND")
    assert_error(analyst.get("/analytics/reports/report-nope"), 404, "REPORT_NOT_FOUND")


def test_a_csv_export_has_the_rows_posted(analyst: Api, other_org_admin: Api) -> None:
    devices = [str(register(analyst)["deviceId"]) for _ in range(2)]
    start = (int(time.time() * 1000) // MINUTE - 20) * MINUTE
    expected = post_readings(analyst, devices, start)
    response = analyst.post(
        "/analytics/export",
        json={
            "deviceIds": devices,
            "metrics": ["temperature", "humidity"],  # not the derived dew point telemetry adds
            "startTime": _iso(start),
            "endTime": _iso(start + 10 * MINUTE),
            "format": "csv",
        },
    )
    assert response.status_code == 202, response.text
    export = response.json()
    assert export["status"] == "queued"
    done = poll(analyst, f"/analytics/exports/{export['exportId']}")
    assert done["status"] == "completed", done
    assert done["rows"] == len(expected)
    content = httpx.get(done["downloadUrl"], timeout=30).content
    assert done["size"] == len(content)
    rows = list(csv.reader(io.StringIO(content.decode())))
    assert rows[0] == ["timestamp", "deviceId", "metric", "value"]
    got = [(_ms(r[0]), r[1], r[2], float(r[3])) for r in rows[1:]]
    assert got == expected
    assert_error(other_org_admin.get(f"/analytics/exports/{export['exportId']}"), 404, "EXPORT_NOT_FOUND")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() * 1000)
