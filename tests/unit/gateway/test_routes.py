"""The route table built from the real protos, and the matcher's rules."""

from __future__ import annotations

import pytest
from google.api import annotations_pb2

from gateway.catalog import load_services
from gateway.errors import HttpError
from gateway.routes import HttpRoute, RouteConflict, RouteMatcher, UnsupportedRule, build_routes, parse_template
from services.runtime.settings import SERVICE_NAMES
from tests.unit.gateway.synthetic import thing_service


@pytest.fixture(scope="module")
def routes() -> list[HttpRoute]:
    return build_routes(load_services())


@pytest.fixture(scope="module")
def matcher(routes: list[HttpRoute]) -> RouteMatcher:
    return RouteMatcher(routes)


def test_all_seven_services_load_without_conflicts(routes: list[HttpRoute]) -> None:
    services = load_services()
    assert {s.name for s in services} == set(SERVICE_NAMES)
    annotated = {
        m.full_name for s in services for m in s.descriptor.methods if m.GetOptions().HasExtension(annotations_pb2.http)
    }
    assert {r.method.full_name for r in routes} == annotated
    assert {r.service.name for r in routes} == set(SERVICE_NAMES)
    RouteMatcher(routes)  # raises RouteConflict on any shadowing


def test_internal_rpcs_without_http_rule_are_not_routed(routes: list[HttpRoute]) -> None:
    names = {r.method.name for r in routes}
    assert "BatchGetDevices" not in names
    assert "CountActiveAlerts" not in names
    assert "StreamTelemetry" not in names


@pytest.mark.parametrize(
    ("method", "path", "rpc", "values"),
    [
        ("GET", "/firmware/deployments", "ListDeployments", []),
        ("GET", "/firmware/fw-1", "GetFirmware", ["fw-1"]),
        ("GET", "/firmware/deployments/dep-1", "GetDeployment", ["dep-1"]),
        ("POST", "/firmware/deployments", "CreateDeployment", []),
        ("POST", "/firmware/deployments/dep-1/cancel", "CancelDeployment", ["dep-1"]),
        ("POST", "/firmware/upload", "UploadFirmware", []),
        ("GET", "/users/me", "GetProfile", []),
        ("GET", "/users/user-7", "GetUser", ["user-7"]),
        ("PUT", "/users/me", "UpdateProfile", []),
        ("PUT", "/users/me/preferences", "UpdatePreferences", []),
        ("PUT", "/users/user-7/role", "UpdateUserRole", ["user-7"]),
        ("GET", "/devices/dev-1", "GetDevice", ["dev-1"]),
        ("GET", "/devices/dev-1/history", "GetDeviceHistory", ["dev-1"]),
        ("GET", "/devices/dev-1/changes", "ListDeviceChanges", ["dev-1"]),
        ("GET", "/.well-known/jwks.json", "GetJwks", []),
    ],
)
def test_literal_segments_beat_variables(
    matcher: RouteMatcher, method: str, path: str, rpc: str, values: list[str]
) -> None:
    match = matcher.match(method, path)
    assert match.route.method.name == rpc
    assert match.values == values


def test_variables_are_percent_decoded_after_splitting(matcher: RouteMatcher) -> None:
    match = matcher.match("GET", "/devices/dev%2F1%20x/history")
    assert match.route.method.name == "GetDeviceHistory"
    assert match.values == ["dev/1 x"]


@pytest.mark.parametrize("path", ["/nope", "/devices/dev-1/nope", "/devices//changes", "/devices/", "/"])
def test_unknown_paths_are_404(matcher: RouteMatcher, path: str) -> None:
    with pytest.raises(HttpError) as caught:
        matcher.match("GET", path)
    assert (caught.value.status, caught.value.code) == (404, "ROUTE_NOT_FOUND")


def test_wrong_method_is_405_with_allow(matcher: RouteMatcher) -> None:
    with pytest.raises(HttpError) as caught:
        matcher.match("PATCH", "/devices/dev-1")
    assert (caught.value.status, caught.value.code) == (405, "METHOD_NOT_ALLOWED")
    assert caught.value.headers["Allow"] == "DELETE, GET, PUT"
    assert caught.value.details == {"allowed": ["DELETE", "GET", "PUT"]}


def test_nested_path_fields_fill_the_nested_message() -> None:
    service = thing_service("nested", {"GetThing": {"get": "/shelves/{thing.shelf}/things/{thing.id}/v/{version}"}})
    [route] = build_routes([service])
    match = RouteMatcher([route]).match("GET", "/shelves/s1/things/t%2F1/v/7")
    message = route.request_class()
    for binding, text in zip(route.path_bindings, match.values, strict=True):
        binding.apply(message, [text])
    assert (message.thing.shelf, message.thing.id, message.version) == ("s1", "t/1", 7)  # type: ignore[attr-defined]
    # Fields bound by the path are not query parameters; their siblings still are.
    assert "thing.id" not in route.query
    assert "thing.labels" in route.query


def test_bindings_matching_the_same_requests_conflict() -> None:
    service = thing_service(
        "conflict", {"GetThing": {"get": "/things/{thing.id}"}, "GetOther": {"get": "/things/{thing.shelf}"}}
    )
    routes = build_routes([service])
    with pytest.raises(RouteConflict, match="conflicts with"):
        RouteMatcher(routes)


@pytest.mark.parametrize(
    "template",
    ["things/{id}", "/shelves/{name=shelves/*}", "/things/**", "/things/{id}:publish", "/things//x", "/a/*"],
)
def test_unsupported_templates_fail_at_startup(template: str) -> None:
    with pytest.raises(UnsupportedRule):
        parse_template(template)


def test_path_variable_must_name_a_scalar_field() -> None:
    service = thing_service("badvar", {"GetThing": {"get": "/things/{thing}"}})
    with pytest.raises(UnsupportedRule, match="single scalar field"):
        build_routes([service])


def test_success_code_and_anonymous_come_from_method_options(routes: list[HttpRoute]) -> None:
    by_id = {r.operation_id: r for r in routes}
    assert by_id["DeviceService_RegisterDevice"].success_code == 201
    assert by_id["AnalyticsService_GenerateReport"].success_code == 202
    assert by_id["DeviceService_GetDevice"].success_code == 200
    assert by_id["IdentityService_IssueToken"].anonymous
    assert not by_id["IdentityService_GetProfile"].anonymous


def test_patch_custom_and_additional_bindings() -> None:
    service = thing_service(
        "verbs",
        {
            "PatchThing": {"patch": "/things/{thing.id}", "body": "thing"},
            "Search": {"custom": "SEARCH /things", "additional": "get /things/search"},
        },
    )
    routes = build_routes([service])
    matcher = RouteMatcher(routes)
    assert matcher.match("PATCH", "/things/t-1").route.method.name == "PatchThing"
    assert matcher.match("SEARCH", "/things").route.method.name == "Search"
    additional = matcher.match("GET", "/things/search").route
    assert additional.method.name == "Search"
    assert sorted(r.operation_id for r in routes) == [
        "ThingService_PatchThing",
        "ThingService_Search",
        "ThingService_Search_2",
    ]
