"""Firmware rollouts end to end on real ports: `iotmon up` with Mosquitto, simulated devices taking jobs.

An admin packs and uploads images through the real two-step upload, waits for them to be validated, and rolls
them out to devices registered through the API. The devices are `iotmon simulate`'s own job-taking devices
(iotmon/simulate/firmware_device.py) on MQTT job clients of their own, downloading the image through the
gateway and checking its SHA-256 before "installing"; some are told to fail, one never answers. Each test
owns its devices and firmware versions, so the module shares one mesh.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import pytest

from iotmon.firmware_cmd import upload_image
from iotmon.simulate.firmware_device import Behaviour, FirmwareDevice, JobCounts
from iotmon.simulate.jobs import FirmwareFleet, MqttJobLink, download_with
from iotmon.simulate.options import MqttUrl
from tests.e2e.conftest import Api
from tests.e2e.spec_payloads import REGISTER_DEVICE, same_shape
from tests.support.mesh import RunningMesh, iotmon_up
from tests.support.servers import require_server

MQTT_URL = "mqtt://127.0.0.1:1883"
DEVICE_TYPE = REGISTER_DEVICE["deviceType"]
# Quick devices: a rollout of three batches takes seconds.
QUICK = Behaviour(install_seconds=0.3, failure_rate=0.0, reboot_seconds=0.2)
BROKEN = Behaviour(install_seconds=0.3, failure_rate=1.0, reboot_seconds=0.2)

# §3.4.5 output, as the spec shows it.
SPEC_DEPLOYMENT: dict[str, Any] = {
    "deploymentId": "dep-456",
    "firmwareId": "fw-123",
    "firmwareVersion": "v2.1.0",
    "strategy": "staged",
    "status": "in_progress",
    "progress": {"total": 100, "succeeded": 85, "failed": 2, "inProgress": 8, "pending": 5},
    "batches": [
        {"batchId": 1, "devices": 10, "status": "completed", "successRate": 100},
        {"batchId": 2, "devices": 10, "status": "in_progress", "successRate": 80},
    ],
    "startedAt": "2025-11-15T14:00:00Z",
}


def rollout_env(prefix: str) -> dict[str, str]:
    """MQTT on topics, a client id and a shared-subscription group of this run's own (others test too)."""
    return {
        "IOTMON_MQTT_URL": MQTT_URL,
        "IOTMON_FIRMWARE_MQTT_TOPIC_PREFIX": f"{prefix}/devices",
        "IOTMON_FIRMWARE_MQTT_CLIENT_ID": f"{prefix}-firmware",
        "IOTMON_FIRMWARE_MQTT_GROUP": f"{prefix}-firmware",
        "IOTMON_TELEMETRY_MQTT_TOPIC_PREFIX": f"{prefix}/devices",
        "IOTMON_TELEMETRY_MQTT_CLIENT_ID": f"{prefix}-telemetry",
        "IOTMON_TELEMETRY_MQTT_GROUP": "",
    }


@pytest.fixture(scope="module")
def prefix() -> str:
    return "fr-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def rollout_mesh(tmp_path_factory: pytest.TempPathFactory, prefix: str) -> Iterator[RunningMesh]:
    require_server("Mosquitto", "127.0.0.1", 1883)
    with iotmon_up(Path(tmp_path_factory.mktemp("rollout")), rollout_env(prefix)) as running:
        yield running
        assert running.stop() == 0, "iotmon up must drain and exit 0 on SIGTERM"


@pytest.fixture(scope="module")
def admin(rollout_mesh: RunningMesh) -> Api:
    return Api(rollout_mesh, rollout_mesh.token(role="admin", user="user-admin", email="admin@example.com"))


# -- helpers (the crash test uses them too) ------------------------------------------------------------------


def release(api: httpx.Client | Api, workdir: Path, version: str, payload: bytes | None = None) -> str:
    """Pack an image with `iotmon firmware pack`, upload it as a client does, and wait until it is validated."""
    binary, image = workdir / f"{version}.bin", workdir / f"{version}.iotf"
    binary.write_bytes(payload or (version.encode() * 2000))
    args = [sys.executable, "-m", "iotmon.cli", "firmware", "pack", "--version", version]
    args += ["--device-type", DEVICE_TYPE, "--in", str(binary), "--out", str(image)]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    response = api.post("/firmware/upload", json={"version": version, "deviceTypes": [DEVICE_TYPE]})
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert upload_image(ticket["uploadUrl"], ticket["fields"], image).status_code == 204
    firmware = wait_until(
        lambda: api.get(f"/firmware/{ticket['firmwareId']}").json(),
        lambda f: f["status"] in ("validated", "rejected"),
        what=f"{version} processed",
    )
    assert firmware["status"] == "validated", firmware
    return str(ticket["firmwareId"])


def register_devices(api: httpx.Client | Api, name: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        serial = {"serialNumber": f"SN-{name}-{uuid.uuid4().hex[:8]}"}
        body = REGISTER_DEVICE | {"name": f"{name}-{i:03d}", "metadata": REGISTER_DEVICE["metadata"] | serial}
        response = api.post("/devices", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["deviceId"])
    return ids


def deploy(api: httpx.Client | Api, firmware_id: str, devices: Sequence[str], **settings: Any) -> dict[str, Any]:
    body = {"firmwareId": firmware_id, "targetDevices": list(devices), "strategy": "staged", "batchSize": 10}
    response = api.post("/firmware/deployments", json=body | settings)
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()
    return deployment


def deployment_of(api: httpx.Client | Api, deployment_id: str) -> dict[str, Any]:
    response = api.get(f"/firmware/deployments/{deployment_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for_status(
    api: httpx.Client | Api, deployment_id: str, statuses: set[str], timeout: float = 40
) -> dict[str, Any]:
    return wait_until(
        lambda: deployment_of(api, deployment_id),
        lambda d: d["status"] in statuses,
        timeout=timeout,
        what=f"deployment {deployment_id} {sorted(statuses)}",
    )


def jobs_of(api: httpx.Client | Api, deployment_id: str, **params: Any) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    page = 1
    while True:
        response = api.get(
            f"/firmware/deployments/{deployment_id}/jobs", params={"page": page, "pageSize": 100} | params
        )
        assert response.status_code == 200, response.text
        body = response.json()
        jobs += body["items"]
        if not body["pagination"]["hasNext"]:
            return jobs
        page += 1


def versions_of(api: httpx.Client | Api, devices: Sequence[str]) -> dict[str, str | None]:
    return {d: api.get(f"/devices/{d}").json().get("firmwareVersion") for d in devices}


def wait_until(
    read: Callable[[], Any], done: Callable[[Any], bool], *, timeout: float = 40, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"no {what} within {timeout} s; last: {value}"
        time.sleep(0.2)


class SimulatedDevices:
    """iotmon simulate's job-taking devices on MQTT, running on an event loop in a thread of their own.

    Each device has its own job client (`sim-jobs-<deviceId>`) under the mesh's topic prefix; `behaviours`
    gives a device its install time and failure rate (QUICK when absent)."""

    def __init__(
        self,
        device_ids: Sequence[str],
        topic_prefix: str,
        behaviours: Mapping[str, Behaviour] | None = None,
        initial_version: str = "v1.0.0",
    ) -> None:
        self.device_ids = list(device_ids)
        self.topic_prefix = topic_prefix
        self.behaviours = dict(behaviours or {})
        self.initial_version = initial_version
        self.counts = JobCounts()
        self.fleet: FirmwareFleet | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> SimulatedDevices:
        self._thread.start()
        self._run(self._start()).result(timeout=60)
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):
            self._run(self._stop()).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def versions(self) -> dict[str, str]:
        assert self.fleet is not None
        return {d.device_id: d.firmware_version for d in self.fleet.devices}

    def _run(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _start(self) -> None:
        self._downloads = httpx.AsyncClient(timeout=30)
        url = MqttUrl.parse(MQTT_URL)

        async def download(link: str) -> bytes:
            return await download_with(self._downloads, link)

        devices = [
            FirmwareDevice(
                device_id,
                MqttJobLink(url, device_id, self.topic_prefix),
                download,
                self.behaviours.get(device_id, QUICK),
                self.counts,
                firmware_version=self.initial_version,
            )
            for device_id in self.device_ids
        ]
        self.fleet = FirmwareFleet(devices)
        await self.fleet.start()

    async def _stop(self) -> None:
        if self.fleet is not None:
            await self.fleet.stop()
        await self._downloads.aclose()


# -- tests ---------------------------------------------------------------------------------------------------


def test_thirty_devices_in_batches_of_ten_complete_a_staged_rollout(admin: Api, prefix: str, tmp_path: Path) -> None:
    firmware_id = release(admin, tmp_path, "v2.0.0")
    devices = register_devices(admin, "staged", 30)
    with SimulatedDevices(devices, f"{prefix}/devices") as fleet:
        created = deploy(admin, firmware_id, devices, batchSize=10)
        assert created["status"] in ("scheduled", "in_progress")
        assert created["progress"]["total"] == 30
        assert [b["devices"] for b in created["batches"]] == [10, 10, 10]
        # Watched live: the batches run one after the other, never two at once.
        seen: list[list[str]] = []

        def watch() -> dict[str, Any]:
            deployment = deployment_of(admin, created["deploymentId"])
            seen.append([b["status"] for b in deployment["batches"]])
            return deployment

        done = wait_until(watch, lambda d: d["status"] not in ("scheduled", "in_progress"), what="the rollout end")
        # A device counts its install once its SUCCEEDED report is answered, which may be a moment after the
        # service, having the report, completed the rollout.
        counts = wait_until(lambda: fleet.counts, lambda c: c.installing == 0, timeout=10, what="installs counted")
        assert counts.succeeded == 30
        assert set(fleet.versions().values()) == {"v2.0.0"}
    assert all(statuses.count("in_progress") <= 1 for statuses in seen)
    assert ["completed", "in_progress", "pending"] in seen or ["completed", "completed", "in_progress"] in seen

    assert done["status"] == "completed"
    assert done["progress"] == {"total": 30, "succeeded": 30, "failed": 0, "inProgress": 0, "pending": 0}
    assert done["batches"] == [
        {"batchId": i, "devices": 10, "status": "completed", "successRate": 100} for i in (1, 2, 3)
    ]
    assert done["completedAt"] >= done["startedAt"]
    assert same_shape(done, SPEC_DEPLOYMENT) == []
    assert set(done["progress"]) == set(SPEC_DEPLOYMENT["progress"])
    assert all(set(b) == set(SPEC_DEPLOYMENT["batches"][0]) for b in done["batches"])
    # Every device shows the new version, and every job ended SUCCEEDED on its first attempt.
    assert versions_of(admin, devices) == dict.fromkeys(devices, "v2.0.0")
    jobs = jobs_of(admin, done["deploymentId"])
    assert sorted(j["deviceId"] for j in jobs) == sorted(devices)
    assert {(j["status"], j["attempt"], j["operation"]) for j in jobs} == {("SUCCEEDED", 1, "install")}
    listed = admin.get("/firmware/deployments", params={"firmwareId": firmware_id}).json()
    assert [d["deploymentId"] for d in listed["items"]] == [done["deploymentId"]]


def test_a_batch_failing_twenty_percent_halts_with_an_alert(admin: Api, prefix: str, tmp_path: Path) -> None:
    firmware_id = release(admin, tmp_path, "v2.1.0")
    devices = register_devices(admin, "halting", 30)
    broken = {devices[3]: BROKEN, devices[7]: BROKEN}  # 2 of the first batch of 10
    with SimulatedDevices(devices, f"{prefix}/devices", broken) as fleet:
        created = deploy(admin, firmware_id, devices, batchSize=10, maxRetries=0)
        halted = wait_for_status(admin, created["deploymentId"], {"halted", "completed"})
        time.sleep(1)  # were a next batch started, its devices would have jobs by now
        assert fleet.counts.failed == 2
        assert fleet.counts.succeeded == 8

    assert halted["status"] == "halted"
    assert "8/10" in halted["haltReason"]
    assert "95" in halted["haltReason"]
    assert halted["progress"] == {"total": 30, "succeeded": 8, "failed": 2, "inProgress": 0, "pending": 20}
    assert [(b["status"], b["successRate"]) for b in halted["batches"]] == [
        ("failed", 80),
        ("cancelled", 0),
        ("cancelled", 0),
    ]
    jobs = jobs_of(admin, created["deploymentId"])
    assert {j["batchId"] for j in jobs} == {1}, "later batches must get no jobs"
    failed = {j["deviceId"]: j for j in jobs if j["status"] == "FAILED"}
    assert set(failed) == set(broken)
    assert all(j["statusDetails"]["reason"] == "install failed (simulated)" for j in failed.values())
    # The alerting service raised one critical fleet alert on `halted`.
    rule = f"system:deployment-halted:{created['deploymentId']}"
    alerts = wait_until(
        lambda: [a for a in admin.get("/alerts", params={"pageSize": 100}).json()["items"] if a["ruleId"] == rule],
        bool,
        what="the halted deployment's alert",
    )
    assert len(alerts) == 1
    assert alerts[0]["severity"] == "critical"
    assert versions_of(admin, devices[10:]) == dict.fromkeys(devices[10:], None)


def test_a_device_that_never_answers_times_out_and_counts_as_failed(admin: Api, prefix: str, tmp_path: Path) -> None:
    firmware_id = release(admin, tmp_path, "v2.2.0")
    devices = register_devices(admin, "silent", 4)
    silent = devices[-1]
    with SimulatedDevices(devices[:-1], f"{prefix}/devices"):
        created = deploy(
            admin, firmware_id, devices, strategy="all-at-once", jobTimeoutSeconds=2, maxRetries=1, successThreshold=70
        )
        done = wait_for_status(admin, created["deploymentId"], {"completed", "halted"})

    # 3 of 4 succeeded: 75 % clears the threshold of 70, and the silent device counts as failed.
    assert done["status"] == "completed"
    assert done["progress"] == {"total": 4, "succeeded": 3, "failed": 1, "inProgress": 0, "pending": 0}
    (job,) = [j for j in jobs_of(admin, created["deploymentId"]) if j["deviceId"] == silent]
    assert (job["status"], job["attempt"]) == ("TIMED_OUT", 2), "sent twice (one retry), timed out both times"
    assert versions_of(admin, [silent]) == {silent: None}


def test_cancel_stops_a_rollout_and_rollback_reinstalls_the_previous_version(
    admin: Api, prefix: str, tmp_path: Path
) -> None:
    old_id = release(admin, tmp_path, "v3.0.0")
    new_id = release(admin, tmp_path, "v3.1.0")
    devices = register_devices(admin, "rollback", 20)
    slow = dict.fromkeys(devices[5:], Behaviour(install_seconds=4, failure_rate=0.0, reboot_seconds=0.2))
    with SimulatedDevices(devices, f"{prefix}/devices", slow) as fleet:
        # Every device runs v3.0.0 first (as the device service knows it): the version a rollback returns to.
        first = deploy(admin, old_id, devices, strategy="all-at-once")
        assert wait_for_status(admin, first["deploymentId"], {"completed", "halted"}, 60)["status"] == "completed"
        assert versions_of(admin, devices) == dict.fromkeys(devices, "v3.0.0")

        # v3.1.0 in batches of 5: the first is quick, the second installs slowly and is cancelled mid-way.
        second = deploy(admin, new_id, devices, batchSize=5)
        deployment_id = second["deploymentId"]
        wait_until(
            lambda: deployment_of(admin, deployment_id),
            lambda d: d["batches"][0]["status"] == "completed" and d["progress"]["inProgress"] > 0,
            what="the second batch installing",
        )
        response = admin.post(f"/firmware/deployments/{deployment_id}/cancel", json={"reason": "bad build"})
        assert response.status_code == 200, response.text
        cancelled = response.json()
        assert cancelled["status"] == "cancelled"
        assert "bad build" in cancelled["haltReason"]
        time.sleep(5)  # the slow installs would have finished by now, had they not been stopped
        jobs = jobs_of(admin, deployment_id)
        assert {j["batchId"] for j in jobs} == {1, 2}, "no new jobs after cancel"
        assert {j["status"] for j in jobs if j["batchId"] == 2} == {"CANCELED"}
        assert versions_of(admin, devices[5:10]) == dict.fromkeys(devices[5:10], "v3.0.0")
        assert all(fleet.versions()[d] == "v3.0.0" for d in devices[5:10])
        assert deployment_of(admin, deployment_id)["status"] == "cancelled"

        # Roll back: the five devices that took v3.1.0 reinstall v3.0.0.
        assert versions_of(admin, devices[:5]) == dict.fromkeys(devices[:5], "v3.1.0")
        response = admin.post(f"/firmware/deployments/{deployment_id}/rollback", json={})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "rolling_back"
        rolled = wait_for_status(admin, deployment_id, {"rolled_back", "halted"})

    assert rolled["status"] == "rolled_back"
    rollbacks = [j for j in jobs_of(admin, deployment_id) if j["operation"] == "rollback"]
    assert sorted(j["deviceId"] for j in rollbacks) == sorted(devices[:5])
    assert {(j["status"], j["firmwareVersion"]) for j in rollbacks} == {("SUCCEEDED", "v3.0.0")}
    assert versions_of(admin, devices) == dict.fromkeys(devices, "v3.0.0")
    assert admin.post(f"/firmware/deployments/{deployment_id}/cancel").status_code == 409
