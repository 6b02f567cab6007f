"""Every route of the OpenAPI document × two organizations × every role, plus no token and a service token.

Org A owns the resources the paths name. For each route the table below says the least role that may call
it (derived from the spec and each use case's `caller.require(...)`: viewer < operator < admin) and how it
relates to organizations:

  resource  the path names one of A's resources: A's roles get the success code from the least role up and
            403 below it; B's roles get 403 or 404 and the resource is unchanged afterwards
  list      B's roles get their own list, in which none of A's ids appears
  create    each organization creates in its own; B may name none of A's resources in the body
  self      the caller's own user; B's answer names B's organization only
  global    the same for everyone (device types); public: no token needed at all

No token is a 401 everywhere but the public routes. A service token (the platform's own, for gRPC between
services) is accepted but belongs to no organization through REST; it must never meet a 5xx. A route of the document
missing from the table fails test_every_route_is_classified, so a new route has to be classified here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.hardening.world import (
    ALERT_RULE,
    DEVICE_TYPE,
    ROLES,
    Organization,
    World,
    export_request,
    now_ms,
    report_request,
)

ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
Ids = dict[str, str]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None


@dataclass(frozen=True)
class Route:
    scope: str  # resource, list, create, self, global, public
    least: str | None  # the least role allowed; None for public routes
    call: Callable[[Ids], Call]
    success: int = 200
    changes: str | None = None  # a successful call changes this kind of resource: each gets a new one
    watch: str | None = None  # the kind of A's resource that refused calls must leave unchanged
    foreign: frozenset[int] = frozenset({403, 404})  # B's statuses on A's resource
    echoes: frozenset[str] = frozenset()  # kinds of A's ids that B's answer may name (B sent them itself)


def _get(path: str, **params: Any) -> Callable[[Ids], Call]:
    return lambda ids: Call("GET", path.format(**ids), params=params or None)


def _device_update(ids: Ids) -> Call:
    return Call("PUT", f"/devices/{ids['device']}", json={"name": "Renamed-By-Matrix", "tags": ["matrix"]})


def _telemetry(ids: Ids) -> Call:
    record = {"deviceId": ids["device"], "timestamp": now_ms() - 500, "data": {"temperature": 21.5}}
    return Call("POST", "/telemetry", json={"records": [record]})


def _deployment(ids: Ids) -> Call:
    body = {"firmwareId": ids["firmware"], "targetDevices": [ids["device"]], "strategy": "all-at-once"}
    return Call("POST", "/firmware/deployments", json=body)


def _query(ids: Ids) -> dict[str, Any]:
    window = {k: v for k, v in export_request([ids["device"]]).items() if k in ("startTime", "endTime")}
    return {
        "deviceIds": [ids["device"]],
        "metrics": ["temperature"],
        "aggregation": {"interval": "1h", "function": "avg"},
    } | window


_versions = itertools.count(1)


ROUTES: dict[str, Route] = {
    "GET /.well-known/jwks.json": Route("public", None, _get("/.well-known/jwks.json")),
    "POST /auth/token": Route(
        "public",
        None,
        lambda ids: Call("POST", "/auth/token", json={"email": "admin@org-a.example", "password": "wrong-password"}),
        success=401,
    ),
    "POST /alert-rules": Route(
        "create", "admin", lambda ids: Call("POST", "/alert-rules", json=ALERT_RULE), success=201
    ),
    "GET /alert-rules": Route("list", "viewer", _get("/alert-rules")),
    "GET /alert-rules/{ruleId}": Route("resource", "viewer", _get("/alert-rules/{rule}")),
    "PUT /alert-rules/{ruleId}": Route(
        "resource",
        "admin",
        lambda ids: Call("PUT", f"/alert-rules/{ids['rule']}", json=ALERT_RULE | {"name": "Changed By Matrix"}),
        watch="rule",
    ),
    "DELETE /alert-rules/{ruleId}": Route(
        "resource", "admin", lambda ids: Call("DELETE", f"/alert-rules/{ids['rule']}"), changes="rule", watch="rule"
    ),
    "GET /alerts": Route("list", "viewer", _get("/alerts")),
    "GET /alerts/{alertId}": Route("resource", "viewer", _get("/alerts/{alert}")),
    "POST /alerts/{alertId}/acknowledge": Route(
        "resource",
        "operator",
        lambda ids: Call("POST", f"/alerts/{ids['alert']}/acknowledge", json={"comment": "matrix"}),
        changes="alert",
        watch="alert",
    ),
    "POST /alerts/{alertId}/resolve": Route(
        "resource",
        "operator",
        lambda ids: Call("POST", f"/alerts/{ids['alert']}/resolve", json={"resolution": "matrix"}),
        changes="acknowledged_alert",
        watch="alert",
    ),
    "GET /analytics/dashboard": Route("self", "viewer", _get("/analytics/dashboard")),
    "POST /analytics/export": Route(
        "create",
        "viewer",
        lambda ids: Call("POST", "/analytics/export", json=export_request([ids["device"]])),
        success=202,
    ),
    "GET /analytics/exports/{exportId}": Route("resource", "viewer", _get("/analytics/exports/{export}")),
    "POST /analytics/query": Route(
        "create",
        "viewer",
        lambda ids: Call("POST", "/analytics/query", json=_query(ids)),
    ),
    "POST /analytics/reports": Route(
        "create",
        "viewer",
        lambda ids: Call("POST", "/analytics/reports", json=report_request([ids["device"]])),
        success=202,
    ),
    "GET /analytics/reports/{reportId}": Route("resource", "viewer", _get("/analytics/reports/{report}")),
    "GET /analytics/usage": Route("self", "admin", _get("/analytics/usage")),
    "GET /device-types": Route("global", "viewer", _get("/device-types")),
    "GET /device-types/{name}": Route("global", "viewer", _get(f"/device-types/{DEVICE_TYPE}")),
    "POST /devices": Route(
        "create",
        "operator",
        lambda ids: Call("POST", "/devices", json={"deviceType": DEVICE_TYPE, "name": "Matrix-Device"}),
        success=201,
    ),
    "GET /devices": Route("list", "viewer", _get("/devices")),
    "GET /devices/{deviceId}": Route("resource", "viewer", _get("/devices/{device}")),
    # Operators may update only the devices they registered themselves; the shared one is an admin's.
    "PUT /devices/{deviceId}": Route("resource", "admin", _device_update, watch="device"),
    "DELETE /devices/{deviceId}": Route(
        "resource", "admin", lambda ids: Call("DELETE", f"/devices/{ids['device']}"), changes="device", watch="device"
    ),
    "GET /devices/{deviceId}/changes": Route("resource", "viewer", _get("/devices/{device}/changes")),
    "GET /devices/{deviceId}/history": Route("resource", "viewer", _get("/devices/{device}/history")),
    "GET /firmware": Route("list", "viewer", _get("/firmware")),
    "POST /firmware/deployments": Route("create", "operator", _deployment, success=201),
    "GET /firmware/deployments": Route("list", "viewer", _get("/firmware/deployments")),
    "GET /firmware/deployments/{deploymentId}": Route("resource", "viewer", _get("/firmware/deployments/{deployment}")),
    "POST /firmware/deployments/{deploymentId}/cancel": Route(
        "resource",
        "operator",
        lambda ids: Call("POST", f"/firmware/deployments/{ids['deployment']}/cancel", json={}),
        changes="deployment",
        watch="deployment",
    ),
    "GET /firmware/deployments/{deploymentId}/jobs": Route(
        "resource", "viewer", _get("/firmware/deployments/{deployment}/jobs")
    ),
    "POST /firmware/deployments/{deploymentId}/rollback": Route(
        "resource",
        "operator",
        lambda ids: Call("POST", f"/firmware/deployments/{ids['deployment']}/rollback", json={}),
        changes="deployment",
        watch="deployment",
    ),
    # Another organization's device has no jobs for B: an empty answer (the leak check reads it) or 404.
    "GET /firmware/devices/{deviceId}/jobs": Route(
        "resource", "viewer", _get("/firmware/devices/{job_device}/jobs"), foreign=frozenset({200, 403, 404})
    ),
    "POST /firmware/devices/{deviceId}/jobs/{jobId}": Route(
        "resource",
        "operator",
        lambda ids: Call(
            "POST", f"/firmware/devices/{ids['job_device']}/jobs/{ids['job']}", json={"status": "IN_PROGRESS"}
        ),
        changes="deployment",
        watch="job",
    ),
    "POST /firmware/upload": Route(
        "create",
        "admin",
        lambda ids: Call(
            "POST", "/firmware/upload", json={"version": f"v9.0.{next(_versions)}", "deviceTypes": [DEVICE_TYPE]}
        ),
        success=201,
    ),
    "GET /firmware/{firmwareId}": Route("resource", "viewer", _get("/firmware/{firmware}")),
    "GET /notifications/deliveries": Route("list", "admin", _get("/notifications/deliveries")),
    "POST /telemetry": Route("create", "operator", _telemetry),
    # B's own dead letters may name A's device: B sent readings for it (refused as UNKNOWN_DEVICE).
    "GET /telemetry/dead-letters": Route(
        "list", "admin", _get("/telemetry/dead-letters"), echoes=frozenset({"device", "job_device"})
    ),
    "POST /telemetry/dead-letters/replay": Route(
        "create",
        "admin",
        lambda ids: Call("POST", "/telemetry/dead-letters/replay", json={"deviceId": ids["device"]}),
        changes="dead_letters",
        watch="dead_letters",
    ),
    "GET /users": Route("list", "admin", _get("/users")),
    "POST /users": Route(
        "create",
        "admin",
        lambda ids: Call("POST", "/users", json={"email": f"m{now_ms()}@matrix.example", "name": "Matrix User"}),
        success=201,
    ),
    "GET /users/me": Route("self", "viewer", _get("/users/me")),
    "PUT /users/me": Route("self", "viewer", lambda ids: Call("PUT", "/users/me", json={"name": "Matrix Renamed"})),
    "POST /users/me/device-tokens": Route(
        "self",
        "viewer",
        lambda ids: Call("POST", "/users/me/device-tokens", json={"token": f"fcm-{now_ms()}", "platform": "android"}),
        success=201,
    ),
    "PUT /users/me/preferences": Route(
        "self", "viewer", lambda ids: Call("PUT", "/users/me/preferences", json={"theme": "dark"})
    ),
    "GET /users/{userId}": Route("resource", "admin", _get("/users/{user}")),
    "PUT /users/{userId}/role": Route(
        "resource",
        "admin",
        lambda ids: Call("PUT", f"/users/{ids['user']}/role", json={"role": "operator"}),
        changes="user",
        watch="user",
    ),
}

# Routes whose owner has not built them yet or that break the matrix today: the test is expected to fail
# with this reason (strict, so it must be taken out once the route behaves).
KNOWN_FAILURES: dict[str, str] = {}

WATCH_PATHS = {
    "device": "/devices/{device}",
    "rule": "/alert-rules/{rule}",
    "alert": "/alerts/{alert}",
    "user": "/users/{user}",
    "deployment": "/firmware/deployments/{deployment}",
    "job": "/firmware/deployments/{deployment}/jobs",
    "dead_letters": "/telemetry/dead-letters?deviceId={device}",
}
# Fields that move on their own rather than through a request: a device's heartbeats and readings, and a
# job's download link, whose expiry and signature are minted each time the job is read.
VOLATILE = {
    "device": {"lastSeen", "health", "lastReading", "status"},
    "alert": {"relatedAlerts"},
    "job": {"downloadUrl"},
}


def test_every_route_is_classified(world: World) -> None:
    document = world.anonymous.get("/openapi.json").json()
    methods = {"get", "post", "put", "patch", "delete"}
    documented = {f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item if m in methods}
    assert documented - ROUTES.keys() == set(), "routes of the OpenAPI document missing from the access table"
    assert ROUTES.keys() - documented == set(), "routes in the access table the gateway no longer serves"


def _params() -> list[Any]:
    marks = {k: [pytest.mark.xfail(strict=True, reason=v)] for k, v in KNOWN_FAILURES.items()}
    return [pytest.param(key, id=key, marks=marks.get(key, [])) for key in ROUTES]


@pytest.mark.parametrize("key", _params())
def test_route(world: World, key: str) -> None:
    route = ROUTES[key]
    owner, other = world.orgs["org-a"], world.orgs["org-b"]
    problems: list[str] = []

    def check(who: str, response: httpx.Response, allowed: set[int]) -> None:
        if response.status_code not in allowed:
            problems.append(f"{who}: {response.status_code} (expected {sorted(allowed)}) {response.text[:300]}")
        elif response.status_code >= 400:
            error = response.json().get("error", {})
            if not (error.get("code") and error.get("requestId")):
                problems.append(f"{who}: {response.status_code} without the §8.2 body: {response.text[:200]}")

    def send(api: httpx.Client, call: Call) -> httpx.Response:
        return api.request(call.method, call.path, json=call.json, params=call.params)

    shared = owner.ids
    before = _snapshot(world, route, shared)

    # No token.
    response = send(world.anonymous, route.call(shared))
    check("no token", response, {route.success} if route.scope == "public" else {401})

    # The owner's roles.
    for role in ROLES:
        allowed = route.least is None or ROLE_RANK[role] >= ROLE_RANK[route.least]
        kind = route.changes or route.watch
        ids = owner.fresh(kind) if allowed and kind else shared
        response = send(owner.apis[role], route.call(ids))
        check(f"{owner.name} {role}", response, {route.success} if allowed else {403})
        if route.scope == "self" and response.status_code < 300 and "organizationId" in response.text:
            assert response.json().get("organizationId") == owner.name

    # The other organization's roles, on the owner's resources.
    for role in ROLES:
        allowed = route.least is None or ROLE_RANK[role] >= ROLE_RANK[route.least]
        api = other.apis[role]
        call = route.call(shared)
        own_letters = _dead_letters_of(other, shared["device"]) if key.endswith("/replay") and allowed else 0
        response = send(api, call)
        if key.endswith("/replay") and response.status_code == 200 and response.json()["replayed"] > own_letters:
            problems.append(f"{other.name} {role}: replayed more than its own {own_letters} dead letters")
        if route.scope == "resource":
            check(f"{other.name} {role}", response, set(route.foreign))
        elif route.scope == "create":
            _check_foreign_create(key, response, shared, allowed, problems, f"{other.name} {role}", route)
        elif route.scope in ("list", "self"):
            check(f"{other.name} {role}", response, {route.success} if allowed else {403})
        else:
            check(f"{other.name} {role}", response, {route.success} if allowed or route.least is None else {403})
        named = {k: v for k, v in shared.items() if k not in route.echoes}
        leaked = [f"{kind}={value}" for kind, value in named.items() if value in response.text]
        if leaked and route.scope != "create" and response.status_code < 400:  # a 404 may echo the id asked for
            problems.append(f"{other.name} {role}: the answer names {owner.name}'s {leaked}")

    # A service token: accepted (never a 401) and never a 5xx. Through REST it belongs to no organization,
    # so the use cases find none of A's resources; it acts on a new one in case it may change it.
    kind = route.changes or route.watch
    response = send(world.service, route.call(owner.fresh(kind) if kind else shared))
    unauthenticated = response.status_code == 401 and route.scope != "public"
    if response.status_code >= 500 or unauthenticated:
        problems.append(f"service token: {response.status_code} {response.text[:300]}")

    after = _snapshot(world, route, shared)
    if before != after:
        problems.append(f"{owner.name}'s {route.watch} changed after refused calls:\n  {before}\n  {after}")
    assert not problems, f"{key}:\n" + "\n".join(problems)


def _check_foreign_create(
    key: str, response: httpx.Response, foreign: Ids, allowed: bool, problems: list[str], who: str, route: Route
) -> None:
    """B creates in its own organization; naming A's resources must not reach them."""
    status = response.status_code
    if not allowed:
        if status != 403:
            problems.append(f"{who}: {status} (expected 403) {response.text[:300]}")
        return
    names_foreign = key in ("POST /firmware/deployments", "POST /telemetry", "POST /analytics/query")
    names_foreign |= key in ("POST /analytics/export", "POST /analytics/reports", "POST /telemetry/dead-letters/replay")
    if not names_foreign:
        if status != route.success:
            problems.append(f"{who}: {status} (expected {route.success}) {response.text[:300]}")
        return
    if status >= 500 or status in (401,):
        problems.append(f"{who}: {status} naming another organization's resources: {response.text[:300]}")
    elif status < 300:
        body = response.json()
        if key == "POST /telemetry" and body.get("accepted") != 0:
            problems.append(f"{who}: a reading for another organization's device was accepted: {body}")
        if key == "POST /firmware/deployments":
            problems.append(f"{who}: deployed another organization's firmware: {body}")
        if key == "POST /analytics/query" and any(s.get("data") for s in body.get("series", [])):
            problems.append(f"{who}: read another organization's readings: {body}")


def _dead_letters_of(org: Organization, device_id: str) -> int:
    """How many dead letters `org` has of a device (its own readings for a device it named)."""
    listed = org.admin.get("/telemetry/dead-letters", params={"deviceId": device_id, "pageSize": 100}).json()
    return int(listed["pagination"]["totalItems"])


def _snapshot(world: World, route: Route, ids: Ids) -> Any:
    if route.watch is None:
        return None
    owner = world.orgs["org-a"]
    response = owner.admin.get(WATCH_PATHS[route.watch].format(**ids))
    return response.status_code, _without(response.json(), VOLATILE.get(route.watch, set()))


def _without(value: Any, volatile: set[str]) -> Any:
    """`value` with the `volatile` keys removed at every depth (a list's items hold them too)."""
    if isinstance(value, dict):
        return {k: _without(v, volatile) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_without(v, volatile) for v in value]
    return value
