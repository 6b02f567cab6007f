"""Two organizations on one `iotmon up`, each with a viewer, an operator and an admin who exist as users, and
the resources of every kind the REST API names (device, rule, alert, user, firmware, deployment, job)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from services.runtime.service_tokens import ServiceTokens
from services.runtime.settings import RuntimeSettings
from tests.e2e.spec_payloads import REGISTER_DEVICE
from tests.e2e.test_firmware_rollout import release
from tests.support.mesh import RunningMesh

ROLES = ("viewer", "operator", "admin")
ORGS = ("org-a", "org-b")
DEVICE_TYPE = str(REGISTER_DEVICE["deviceType"])
ALERT_RULE: dict[str, Any] = {
    "name": "Hardening High Temperature",
    "deviceType": DEVICE_TYPE,
    "condition": {"metric": "temperature", "operator": ">", "threshold": 40, "duration": 0},
    "severity": "warning",
    "actions": {"notifications": ["email"]},
    "schedule": {"type": "always"},
}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_request(device_ids: list[str]) -> dict[str, Any]:
    end = now_ms()
    return {
        "deviceIds": device_ids,
        "metrics": ["temperature"],
        "startTime": iso(end - 3_600_000),
        "endTime": iso(end),
        "format": "csv",
    }


def report_request(device_ids: list[str]) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    parameters = {"deviceIds": device_ids, "startDate": str(today - timedelta(days=1)), "endDate": str(today)}
    return {"reportType": "device-uptime", "parameters": parameters, "format": "json"}


def client(mesh: RunningMesh, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=mesh.gateway, headers=headers, timeout=30)


def created(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_until(probe: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


@dataclass
class Organization:
    """One organization's principals (HTTP clients holding their tokens) and the resources it owns."""

    name: str
    mesh: RunningMesh
    workdir: Path
    users: dict[str, str] = field(default_factory=dict)  # role → userId of that principal
    apis: dict[str, httpx.Client] = field(default_factory=dict)  # role → client
    ids: dict[str, str] = field(default_factory=dict)  # kind → id of a shared resource

    @property
    def admin(self) -> httpx.Client:
        return self.apis["admin"]

    def enrol(self) -> None:
        """A user per role, created by a bootstrap admin token; each principal's token names its user."""
        bootstrap = client(self.mesh, self.mesh.token(org=self.name, role="admin", user=f"bootstrap-{self.name}"))
        for role in ROLES:
            body = {"email": f"{role}@{self.name}.example", "name": f"{role.title()} of {self.name}", "role": role}
            user_id = str(created(bootstrap.post("/users", json=body))["userId"])
            self.users[role] = user_id
            self.apis[role] = client(self.mesh, self.mesh.token(org=self.name, role=role, user=user_id))

    def seed(self) -> None:
        self.ids["device"] = self.device()
        self.ids["rule"] = str(created(self.admin.post("/alert-rules", json=ALERT_RULE))["ruleId"])
        self.ids["alert"] = self.alert()
        self.ids["user"] = self.user()
        self.ids["firmware"] = release(self.admin, self.workdir, f"v1.0.{uuid.uuid4().int % 10_000}")
        self.ids["deployment"], self.ids["job"], self.ids["job_device"] = self.deployment()
        self.ids["dead_letter"] = self.dead_letter(self.ids["device"])
        self.ids["report"], self.ids["export"] = self.report(), self.export()

    # Factories: each call makes a new resource (calls expected to succeed consume one).

    def device(self) -> str:
        serial = {"serialNumber": f"SN-H-{uuid.uuid4().hex[:10]}"}
        body = REGISTER_DEVICE | {"name": f"Hardening-{self.name}", "metadata": REGISTER_DEVICE["metadata"] | serial}
        return str(created(self.admin.post("/devices", json=body))["deviceId"])

    def rule(self) -> str:
        return str(created(self.admin.post("/alert-rules", json=ALERT_RULE))["ruleId"])

    def alert(self) -> str:
        """An active alert: a new device sends a reading above the rule's threshold."""
        device_id = self.device()
        record = {"deviceId": device_id, "timestamp": now_ms() - 1000, "data": {"temperature": 55.0}}
        assert self.admin.post("/telemetry", json={"records": [record]}).json()["accepted"] == 1

        def active() -> str | None:
            items = self.admin.get("/alerts", params={"deviceId": device_id}).json()["items"]
            return str(items[0]["alertId"]) if items else None

        return str(wait_until(active, f"an alert for {device_id}"))

    def user(self) -> str:
        body = {"email": f"u-{uuid.uuid4().hex[:8]}@{self.name}.example", "name": "Someone Else", "role": "viewer"}
        return str(created(self.admin.post("/users", json=body))["userId"])

    def deployment(self) -> tuple[str, str, str]:
        """(deploymentId, jobId, deviceId): one device, so its job is queued at once."""
        device_id = self.device()
        body = {"firmwareId": self.ids["firmware"], "targetDevices": [device_id], "strategy": "all-at-once"}
        deployment_id = str(created(self.admin.post("/firmware/deployments", json=body))["deploymentId"])

        def job() -> str | None:
            items = self.admin.get(f"/firmware/deployments/{deployment_id}/jobs").json()["items"]
            return str(items[0]["jobId"]) if items else None

        return deployment_id, str(wait_until(job, f"a job of {deployment_id}")), device_id

    def dead_letter(self, device_id: str) -> str:
        record = {"deviceId": device_id, "timestamp": now_ms() - 2000, "data": {"co2": -5}}
        assert self.admin.post("/telemetry", json={"records": [record]}).json()["accepted"] == 0
        letters = self.admin.get("/telemetry/dead-letters", params={"deviceId": device_id}).json()["items"]
        return str(letters[0]["deadLetterId"])

    def report(self) -> str:
        response = self.admin.post("/analytics/reports", json=report_request([self.ids["device"]]))
        return str(response.json()["reportId"]) if response.status_code == 202 else "rep-unavailable"

    def export(self) -> str:
        response = self.admin.post("/analytics/export", json=export_request([self.ids["device"]]))
        return str(response.json()["exportId"]) if response.status_code == 202 else "exp-unavailable"

    def acknowledged_alert(self) -> str:
        alert_id = self.alert()
        assert self.admin.post(f"/alerts/{alert_id}/acknowledge", json={}).status_code == 200
        return alert_id

    def fresh(self, kind: str) -> dict[str, str]:
        """Ids for one call that changes a resource of `kind`: a new one (the rest stay the shared ones)."""
        if kind == "deployment":
            deployment, job, device = self.deployment()
            return self.ids | {"deployment": deployment, "job": job, "job_device": device}
        if kind == "dead_letters":
            device_id = self.device()
            return self.ids | {"device": device_id, "dead_letter": self.dead_letter(device_id)}
        if kind == "acknowledged_alert":
            return self.ids | {"alert": self.acknowledged_alert()}
        make: dict[str, Callable[[], str]] = {
            "device": self.device,
            "rule": self.rule,
            "alert": self.alert,
            "user": self.user,
        }
        return self.ids | {kind: make[kind]()}


@dataclass
class World:
    mesh: RunningMesh
    orgs: dict[str, Organization]
    anonymous: httpx.Client
    service: httpx.Client

    @classmethod
    def build(cls, mesh: RunningMesh, workdir: Path) -> World:
        orgs = {}
        for name in ORGS:
            org = Organization(name, mesh, workdir / name)
            org.workdir.mkdir(parents=True)
            org.enrol()
            org.seed()
            orgs[name] = org
        service_token = ServiceTokens(RuntimeSettings(data_dir=mesh.data_dir), "hardening").token()
        return cls(mesh, orgs, client(mesh, None), client(mesh, service_token))
