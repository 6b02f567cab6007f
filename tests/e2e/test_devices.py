"""Spec §3.1.1–§3.1.5 over HTTP against `iotmon up`, with the spec's payloads and shapes."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.e2e.conftest import Api
from tests.e2e.spec_payloads import ERROR_KEYS, PAGINATION, REGISTER_DEVICE, REGISTER_DEVICE_OUTPUT, same_shape


def new_device(**changes: Any) -> dict[str, Any]:
    """The spec's input with a serial number of its own, so tests do not collide."""
    body = copy.deepcopy(REGISTER_DEVICE)
    body["metadata"]["serialNumber"] = "SN-" + uuid.uuid4().hex[:10]
    body.update(changes)
    return body


def register(api: Api, **changes: Any) -> dict[str, Any]:
    response = api.post("/devices", json=new_device(**changes))
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= ERROR_KEYS - {"details"}, error
    assert error["code"] == code, error
    assert error["requestId"] == response.headers["x-request-id"]
    return error


def test_register_returns_the_spec_shape_with_real_credentials(admin: Api) -> None:
    created = register(admin)
    assert same_shape(created, REGISTER_DEVICE_OUTPUT) == []
    assert created["deviceId"].startswith("dev-")
    assert created["status"] == "registered"
    credentials = created["provisioningCredentials"]
    certificate = x509.load_pem_x509_certificate(credentials["certificatePem"].encode())
    key = serialization.load_pem_private_key(credentials["privateKey"].encode(), password=None)
    assert credentials["privateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    assert created["deviceId"] in certificate.subject.rfc4514_string()
    assert credentials["endpoint"]


def test_get_device_shows_what_was_registered(admin: Api) -> None:
    created = register(admin)
    device = admin.get(f"/devices/{created['deviceId']}").json()
    assert device["deviceId"] == created["deviceId"]
    assert device["type"] == "temperature-sensor-v2"
    assert device["name"] == REGISTER_DEVICE["name"]
    assert device["status"] == "registered"
    assert device["location"] == REGISTER_DEVICE["location"]
    assert device["connectivity"]["type"] == "cellular"
    assert sorted(device["tags"]) == ["building-a", "office"]


def test_list_filters_sorts_and_paginates_like_the_spec(admin: Api) -> None:
    tag = "t" + uuid.uuid4().hex[:8]
    ids = [register(admin, name=f"List-{tag}-{i}", tags=[tag, "list"])["deviceId"] for i in range(3)]
    page = admin.get("/devices", params={"tags": tag, "pageSize": 2, "sortBy": "name", "sortOrder": "desc"}).json()
    assert same_shape(page["pagination"], PAGINATION) == []
    assert page["pagination"] == {
        "page": 1,
        "pageSize": 2,
        "totalItems": 3,
        "totalPages": 2,
        "hasNext": True,
        "hasPrevious": False,
    }
    assert [d["name"] for d in page["items"]] == [f"List-{tag}-2", f"List-{tag}-1"]
    assert page["filters"] == {"tags": [tag]}
    second = admin.get("/devices", params={"tags": tag, "pageSize": 2, "page": 2, "sortBy": "name"}).json()
    assert [d["deviceId"] for d in second["items"]] == [ids[2]]
    assert second["pagination"]["hasPrevious"] is True
    filtered = admin.get(
        "/devices", params={"status": "registered", "deviceType": "temperature-sensor-v2", "tags": tag}
    ).json()
    assert filtered["filters"] == {"status": "registered", "deviceType": "temperature-sensor-v2", "tags": [tag]}
    assert filtered["pagination"]["totalItems"] == 3


def test_list_refuses_bad_parameters_naming_them(admin: Api) -> None:
    error = assert_error(admin.get("/devices", params={"pageSize": 1000}), 400, "VALIDATION_ERROR")
    assert "pageSize" in error["message"]
    error = assert_error(admin.get("/devices", params={"sortBy": "color"}), 400, "VALIDATION_ERROR")
    assert "sortBy" in error["message"]
    assert_error(admin.get("/devices", params={"organizationId": "org-other"}), 403, "FORBIDDEN")


def test_update_changes_allowed_fields_and_records_history(admin: Api) -> None:
    device_id = register(admin)["deviceId"]
    response = admin.put(f"/devices/{device_id}", json={"name": "Renamed-Sensor", "status": "maintenance"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Renamed-Sensor"
    assert response.json()["status"] == "maintenance"
    changes = admin.get(f"/devices/{device_id}/changes").json()
    fields = {c["field"]: c for c in changes["items"][0]["changes"]}
    assert fields["name"]["oldValue"] == REGISTER_DEVICE["name"]
    assert fields["name"]["newValue"] == "Renamed-Sensor"
    assert fields["status"]["newValue"] == "maintenance"


def test_update_of_a_field_that_is_not_allowed_is_a_400_naming_it(admin: Api) -> None:
    device_id = register(admin)["deviceId"]
    error = assert_error(admin.put(f"/devices/{device_id}", json={"firmwareVersion": "v9"}), 400, "VALIDATION_ERROR")
    assert "firmwareVersion" in error["message"]
    assert admin.get(f"/devices/{device_id}").json().get("firmwareVersion") != "v9"


def test_duplicate_serial_number_is_409(admin: Api) -> None:
    body = new_device()
    assert admin.post("/devices", json=body).status_code == 201
    error = assert_error(admin.post("/devices", json=body), 409, "DEVICE_ALREADY_EXISTS")
    assert error["details"]["serialNumber"] == body["metadata"]["serialNumber"]


def test_invalid_input_is_400_naming_the_field(admin: Api) -> None:
    error = assert_error(admin.post("/devices", json=new_device(name="x")), 400, "VALIDATION_ERROR")
    assert any(f["field"] == "name" for f in error["details"]["fields"])
    location = {"lat": 123.0, "lon": 0.0}
    error = assert_error(admin.post("/devices", json=new_device(location=location)), 400, "VALIDATION_ERROR")
    assert any(f["field"] == "location.lat" for f in error["details"]["fields"])
    no_coordinates = new_device(location={"address": "Office 301"})
    error = assert_error(admin.post("/devices", json=no_coordinates), 400, "VALIDATION_ERROR")
    assert {f["field"] for f in error["details"]["fields"]} == {"location.lat", "location.lon"}


def test_roles_and_organizations(admin: Api, operator: Api, viewer: Api, other_org_admin: Api) -> None:
    assert_error(viewer.post("/devices", json=new_device()), 403, "FORBIDDEN")
    device_id = register(operator)["deviceId"]
    assert viewer.get(f"/devices/{device_id}").status_code == 200
    assert_error(other_org_admin.get(f"/devices/{device_id}"), 404, "DEVICE_NOT_FOUND")
    assert_error(other_org_admin.put(f"/devices/{device_id}", json={"name": "Stolen-Name"}), 404, "DEVICE_NOT_FOUND")
    assert_error(other_org_admin.delete(f"/devices/{device_id}"), 404, "DEVICE_NOT_FOUND")
    listed = other_org_admin.get("/devices", params={"pageSize": 100}).json()
    assert device_id not in [d["deviceId"] for d in listed["items"]]
    assert_error(operator.delete(f"/devices/{device_id}"), 403, "FORBIDDEN")
    assert admin.get(f"/devices/{device_id}").json()["name"] == REGISTER_DEVICE["name"]


def test_delete_is_admin_only_soft_and_final(admin: Api) -> None:
    device_id = register(admin)["deviceId"]
    response = admin.delete(f"/devices/{device_id}")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "deleted"
    assert_error(admin.get(f"/devices/{device_id}"), 404, "DEVICE_NOT_FOUND")
    assert_error(admin.delete(f"/devices/{device_id}"), 404, "DEVICE_NOT_FOUND")
