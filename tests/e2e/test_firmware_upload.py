"""Firmware upload on real ports (`iotmon up`, embedded store): §3.4.1–§3.4.3 and the processor (§4.5).

An admin packs an image with `iotmon firmware pack`, asks for an upload target, posts the image to it as a
multipart form (the same client code as for S3), and watches the firmware become validated with the image's
SHA-256; a changed header byte makes it rejected with a reason; size, policy and role limits hold.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iotmon.firmware_cmd import upload_image
from services.runtime.settings import RuntimeSettings
from services.runtime.signed_upload import UploadPolicy, load_signing_key, sign_upload
from tests.e2e.conftest import Api
from tests.support.mesh import RunningMesh, iotmon_up

MAX_IMAGE_BYTES = 200_000


@pytest.fixture(scope="module")
def firmware_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    data_dir = Path(tmp_path_factory.mktemp("iotmon-firmware"))
    with iotmon_up(data_dir, env={"IOTMON_FIRMWARE_MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES)}) as running:
        yield running
        assert running.stop() == 0


@pytest.fixture(scope="module")
def admin(firmware_mesh: RunningMesh) -> Api:
    return Api(firmware_mesh, firmware_mesh.token(role="admin", user="user-admin"))


def pack(tmp_path: Path, version: str, payload: bytes, *types: str) -> Path:
    binary, image = tmp_path / f"{version}.bin", tmp_path / f"{version}.iotf"
    binary.write_bytes(payload)
    args = [sys.executable, "-m", "iotmon.cli", "firmware", "pack", "--version", version, "--in", str(binary)]
    args += ["--out", str(image), *(a for t in types for a in ("--device-type", t))]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return image


def ask_upload(admin: Api, version: str, *types: str) -> dict[str, Any]:
    response = admin.post("/firmware/upload", json={"version": version, "deviceTypes": list(types)})
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def wait_processed(admin: Api, firmware_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        firmware: dict[str, Any] = admin.get(f"/firmware/{firmware_id}").json()
        if firmware["status"] in ("validated", "rejected"):
            return firmware
        time.sleep(0.2)
    raise AssertionError(f"{firmware_id} not processed within {timeout} s")


def test_an_uploaded_image_becomes_validated_with_its_checksum(admin: Api, tmp_path: Path) -> None:
    image = pack(tmp_path, "v2.1.0", bytes(range(256)) * 300, "temp-sensor", "gateway")
    ticket = ask_upload(admin, "v2.1.0", "temp-sensor")
    assert {"key", "policy", "signature"} <= set(ticket["fields"])
    assert ticket["fields"]["key"] == f"firmware/{ticket['firmwareId']}.bin"
    assert admin.get(f"/firmware/{ticket['firmwareId']}").json()["status"] == "pending_upload"
    response = upload_image(ticket["uploadUrl"], ticket["fields"], image)
    assert response.status_code == 204, response.text
    firmware = wait_processed(admin, ticket["firmwareId"])
    assert firmware["status"] == "validated"
    assert firmware["checksum"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert firmware["size"] == image.stat().st_size
    assert firmware["version"] == "v2.1.0"
    assert firmware["deviceTypes"] == ["temp-sensor"]
    assert firmware["validatedAt"]
    assert "rejectionReason" not in firmware
    # Posting the same object again changes nothing: it was processed once.
    assert upload_image(ticket["uploadUrl"], ticket["fields"], image).status_code == 204
    time.sleep(1)
    assert admin.get(f"/firmware/{ticket['firmwareId']}").json()["validatedAt"] == firmware["validatedAt"]


def test_an_image_with_one_header_byte_changed_is_rejected_with_a_reason(admin: Api, tmp_path: Path) -> None:
    image = pack(tmp_path, "v2.2.0", b"\x01" * 5000, "temp-sensor")
    damaged = bytearray(image.read_bytes())
    damaged[52] ^= 0x04  # inside the version string
    image.write_bytes(bytes(damaged))
    ticket = ask_upload(admin, "v2.2.0", "temp-sensor")
    assert upload_image(ticket["uploadUrl"], ticket["fields"], image).status_code == 204
    firmware = wait_processed(admin, ticket["firmwareId"])
    assert firmware["status"] == "rejected"
    assert firmware["rejectionReason"].startswith("HEADER_CORRUPT")
    assert "checksum" not in firmware
    # A rejected version may be uploaded again.
    assert admin.post("/firmware/upload", json={"version": "v2.2.0", "deviceTypes": ["temp-sensor"]}).status_code == 201


def test_an_oversized_upload_is_413(admin: Api, tmp_path: Path) -> None:
    image = pack(tmp_path, "v3.0.0", b"\x02" * (MAX_IMAGE_BYTES + 1), "temp-sensor")
    ticket = ask_upload(admin, "v3.0.0", "temp-sensor")
    response = upload_image(ticket["uploadUrl"], ticket["fields"], image)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert admin.get(f"/firmware/{ticket['firmwareId']}").json()["status"] == "pending_upload"


def test_expired_or_tampered_policies_are_403(admin: Api, firmware_mesh: RunningMesh, tmp_path: Path) -> None:
    image = pack(tmp_path, "v3.1.0", b"\x03" * 1000, "temp-sensor")
    ticket = ask_upload(admin, "v3.1.0", "temp-sensor")
    tampered = dict(ticket["fields"], key="firmware/fw-someone-else.bin")
    refused = upload_image(ticket["uploadUrl"], tampered, image)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "POLICY_CONDITION_FAILED")
    forged = dict(ticket["fields"], signature="0" * 64)
    assert upload_image(ticket["uploadUrl"], forged, image).status_code == 403
    # An expired policy signed with the mesh's own key (as the firmware service would have signed it).
    secret = load_signing_key(RuntimeSettings(data_dir=firmware_mesh.data_dir))
    policy = UploadPolicy(ticket["fields"]["key"], datetime.now(UTC) - timedelta(seconds=5), MAX_IMAGE_BYTES)
    expired = upload_image(ticket["uploadUrl"], sign_upload(secret, policy), image)
    assert (expired.status_code, expired.json()["error"]["code"]) == (403, "POLICY_EXPIRED")
    assert admin.get(f"/firmware/{ticket['firmwareId']}").json()["status"] == "pending_upload"


def test_only_admins_upload_and_metadata_is_checked(admin: Api, firmware_mesh: RunningMesh) -> None:
    body = {"version": "v4.0.0", "deviceTypes": ["temp-sensor"]}
    for role in ("viewer", "operator"):
        other = Api(firmware_mesh, firmware_mesh.token(role=role, user=f"user-{role}"))
        response = other.post("/firmware/upload", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "FORBIDDEN")
    invalid = admin.post("/firmware/upload", json={"version": "latest", "deviceTypes": ["Bad Type"]})
    assert invalid.status_code == 400
    fields = [f["field"] for f in invalid.json()["error"]["details"]["fields"]]
    assert fields == ["version", "deviceTypes[0]"]
    assert admin.post("/firmware/upload", json=body).status_code == 201
    duplicate = admin.post("/firmware/upload", json=body)
    assert (duplicate.status_code, duplicate.json()["error"]["code"]) == (409, "FIRMWARE_VERSION_EXISTS")


def test_list_filters_pages_and_get_is_scoped_to_the_organization(admin: Api, firmware_mesh: RunningMesh) -> None:
    created = [ask_upload(admin, f"v5.0.{i}", "camera" if i % 2 else "thermostat")["firmwareId"] for i in range(3)]
    cameras = admin.get("/firmware", params={"deviceType": "camera"}).json()
    assert [f["firmwareId"] for f in cameras["items"]] == [created[1]]
    page = admin.get("/firmware", params={"pageSize": 2, "page": 1}).json()
    assert len(page["items"]) == 2
    assert page["pagination"]["hasNext"] is True
    assert page["pagination"]["pageSize"] == 2
    assert page["items"][0]["firmwareId"] == created[2], "newest first"
    pending = admin.get("/firmware", params={"status": "pending_upload", "pageSize": 100}).json()
    assert set(created) <= {f["firmwareId"] for f in pending["items"]}
    assert admin.get("/firmware", params={"status": "done"}).status_code == 400
    missing = admin.get("/firmware/fw-nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "FIRMWARE_NOT_FOUND")
    stranger = Api(firmware_mesh, firmware_mesh.token(org="org-other", role="admin", user="user-other"))
    assert stranger.get(f"/firmware/{created[0]}").status_code == 404
    assert stranger.get("/firmware").json()["items"] == []
    viewer = Api(firmware_mesh, firmware_mesh.token(role="viewer", user="user-viewer"))
    assert viewer.get(f"/firmware/{created[0]}").json()["status"] == "pending_upload"
