"""Firmware rollouts on the embedded default (`iotmon up`, no broker): devices poll the HTTP fallback.

Without IOTMON_MQTT_URL the service's job channel only records; simulated devices on the HTTP fallback
(GET /firmware/devices/{id}/jobs, POST …/jobs/{jobId}) take the rollout to the end. Also the deployment API's
refusals: roles, unknown and incompatible devices, reports on someone else's or a finished job.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from iotmon.simulate.firmware_device import Behaviour, JobCounts
from iotmon.simulate.jobs import firmware_fleet
from tests.e2e.conftest import Api
from tests.e2e.spec_payloads import ERROR_KEYS
from tests.e2e.test_firmware_rollout import (
    deploy,
    deployment_of,
    jobs_of,
    register_devices,
    release,
    versions_of,
    wait_for_status,
)
from tests.support.mesh import RunningMesh


def run_http_devices(mesh: RunningMesh, token: str, devices: list[str], deployment: Any) -> JobCounts:
    """iotmon simulate's devices on the HTTP fallback, until `deployment()` (run in a thread) returns."""

    async def main() -> JobCounts:
        headers = {"authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=mesh.gateway, headers=headers, timeout=30) as api,
            firmware_fleet(
                devices,
                via_mqtt=None,
                api=api,
                behaviour=Behaviour(install_seconds=0.2, failure_rate=0.0, reboot_seconds=0.1),
                initial_version="v1.0.0",
            ) as fleet,
        ):
            await asyncio.to_thread(deployment)
            return fleet.counts

    return asyncio.run(main())


def test_http_devices_take_a_rollout_on_the_embedded_default(mesh: RunningMesh, admin: Api, tmp_path: Path) -> None:
    firmware_id = release(admin, tmp_path, "v7.0.0")
    devices = register_devices(admin, "http", 6)
    done: dict[str, Any] = {}

    def rollout() -> None:
        created = deploy(admin, firmware_id, devices, batchSize=3)
        done.update(wait_for_status(admin, created["deploymentId"], {"completed", "halted"}, timeout=60))

    counts = run_http_devices(mesh, mesh.token(role="admin", user="user-admin"), devices, rollout)

    assert done["status"] == "completed"
    assert done["progress"] == {"total": 6, "succeeded": 6, "failed": 0, "inProgress": 0, "pending": 0}
    assert [(b["devices"], b["status"], b["successRate"]) for b in done["batches"]] == [(3, "completed", 100)] * 2
    assert counts.succeeded == 6
    assert versions_of(admin, devices) == dict.fromkeys(devices, "v7.0.0")


def test_the_deployment_api_refuses_what_it_should(
    admin: Api, viewer: Api, other_org_admin: Api, tmp_path: Path
) -> None:
    firmware_id = release(admin, tmp_path, "v7.1.0")
    (device,) = register_devices(admin, "refusals", 1)
    body = {"firmwareId": firmware_id, "targetDevices": [device], "strategy": "all-at-once"}

    forbidden = viewer.post("/firmware/deployments", json=body)
    assert forbidden.status_code == 403
    assert set(forbidden.json()["error"]) == ERROR_KEYS
    unknown = admin.post("/firmware/deployments", json=body | {"targetDevices": [device, "dev-nobody"]})
    assert unknown.status_code == 400
    assert "dev-nobody" in unknown.text
    assert admin.post("/firmware/deployments", json=body | {"firmwareId": "fw-nothing"}).status_code == 404
    assert admin.post("/firmware/deployments", json=body | {"strategy": "sideways"}).status_code == 400
    # Another organization sees neither the firmware nor the device.
    assert other_org_admin.post("/firmware/deployments", json=body).status_code in (400, 404)

    created = deploy(admin, firmware_id, [device], strategy="all-at-once", maxRetries=0)
    deployment_id = created["deploymentId"]
    assert other_org_admin.get(f"/firmware/deployments/{deployment_id}").status_code == 404
    assert viewer.get(f"/firmware/deployments/{deployment_id}").status_code == 200
    job = wait_for_job(admin, deployment_id)
    path = f"/firmware/devices/{device}/jobs/{job['jobId']}"
    assert (
        admin.post(f"/firmware/devices/dev-other/jobs/{job['jobId']}", json={"status": "SUCCEEDED"}).status_code == 404
    )
    assert admin.post(path, json={"status": "DONE"}).status_code == 400
    stale = admin.post(path, json={"status": "IN_PROGRESS", "expectedVersion": job["versionNumber"] + 5})
    assert stale.status_code == 409
    failed = admin.post(path, json={"status": "FAILED", "statusDetails": {"reason": "flash write error"}})
    assert failed.status_code == 200, failed.text
    assert (failed.json()["status"], failed.json()["statusDetails"]) == ("FAILED", {"reason": "flash write error"})
    assert admin.post(path, json={"status": "SUCCEEDED"}).status_code == 409, "a finished job stays finished"
    halted = wait_for_status(admin, deployment_id, {"halted", "completed"})
    assert halted["status"] == "halted"
    assert halted["progress"]["failed"] == 1
    assert admin.get(f"/firmware/devices/{device}/jobs").json() == {"inProgress": [], "queued": []}
    assert deployment_of(admin, deployment_id)["batches"] == [
        {"batchId": 1, "devices": 1, "status": "failed", "successRate": 0}
    ]


def wait_for_job(api: Api, deployment_id: str) -> dict[str, Any]:
    for _ in range(100):
        jobs = jobs_of(api, deployment_id)
        if jobs:
            return jobs[0]
        time.sleep(0.1)
    raise AssertionError("no job created")
