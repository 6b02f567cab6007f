"""Spec §3.3 and §7 over HTTP: sign-in, profile, preferences, device tokens, admin user management."""

from __future__ import annotations

import uuid

import httpx

from tests.e2e.conftest import Api
from tests.e2e.spec_payloads import USER_PROFILE, same_shape
from tests.e2e.test_devices import assert_error
from tests.support.mesh import RunningMesh


def sign_in(mesh: RunningMesh, email: str, password: str) -> Api:
    response = httpx.post(f"{mesh.gateway}/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    assert response.json()["tokenType"] == "Bearer"
    return Api(mesh, response.json()["accessToken"])


def test_demo_admin_signs_in_and_reads_a_spec_shaped_profile(mesh: RunningMesh) -> None:
    me = sign_in(mesh, mesh.admin_email, mesh.admin_password)
    profile = me.get("/users/me").json()
    assert same_shape(profile, USER_PROFILE) == []
    assert profile["email"] == mesh.admin_email
    assert profile["organizationId"] == "org-demo"
    assert profile["role"] == "admin"


def test_wrong_password_is_401_without_saying_which_part_was_wrong(mesh: RunningMesh) -> None:
    wrong = httpx.post(f"{mesh.gateway}/auth/token", json={"email": mesh.admin_email, "password": "nope-nope"})
    unknown = httpx.post(f"{mesh.gateway}/auth/token", json={"email": "who@x.io", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]


def test_admin_creates_a_user_who_manages_their_profile(mesh: RunningMesh) -> None:
    admin = sign_in(mesh, mesh.admin_email, mesh.admin_password)
    email = f"john.{uuid.uuid4().hex[:6]}@example.com"
    created = admin.post(
        "/users", json={"email": email, "name": "John Doe", "role": "operator", "password": "s3cret-pass"}
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["userId"]
    john = sign_in(mesh, email, "s3cret-pass")
    preferences = USER_PROFILE["preferences"]
    assert john.put("/users/me/preferences", json=preferences).status_code == 200
    assert john.put("/users/me", json={"name": "John Q. Doe"}).status_code == 200
    token = john.post("/users/me/device-tokens", json={"token": "fcm-token-123", "platform": "android"})
    assert token.status_code == 201, token.text
    profile = john.get("/users/me").json()
    assert same_shape(profile, USER_PROFILE) == []
    assert profile["preferences"] == preferences
    assert profile["name"] == "John Q. Doe"
    assert profile["deviceTokens"] == ["fcm-token-123"]
    assert_error(john.get("/users"), 403, "FORBIDDEN")
    promoted = admin.put(f"/users/{user_id}/role", json={"role": "admin"})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "admin"
    listed = admin.get("/users", params={"pageSize": 100}).json()
    assert user_id in [u["userId"] for u in listed["items"]]
    assert listed["pagination"]["totalItems"] >= 2


def test_users_of_another_organization_are_invisible(mesh: RunningMesh, other_org_admin: Api) -> None:
    admin = sign_in(mesh, mesh.admin_email, mesh.admin_password)
    me = admin.get("/users/me").json()
    assert_error(other_org_admin.get(f"/users/{me['userId']}"), 404, "USER_NOT_FOUND")
    assert_error(other_org_admin.put(f"/users/{me['userId']}/role", json={"role": "viewer"}), 404, "USER_NOT_FOUND")
    listed = other_org_admin.get("/users").json()
    assert me["userId"] not in [u["userId"] for u in listed["items"]]


def test_jwks_is_public_and_has_the_signing_key(anonymous: Api) -> None:
    keys = anonymous.get("/.well-known/jwks.json").json()["keys"]
    assert keys
    assert all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["kid"] for k in keys)
