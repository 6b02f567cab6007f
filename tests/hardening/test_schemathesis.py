"""Generated requests against the gateway's own /openapi.json on a running `iotmon up` (schemathesis).

For every operation of the document: schema-valid requests (with the path ids swapped, half of the time, for
real resources of a seeded organization of its own, so reads and writes meet real rows) and schema-invalid
ones, sent with a valid admin token. Every answer must be no 5xx, a documented status, and a body that
matches the schema of that status. The examples are derandomized so a CI failure reproduces; the whole run
sends at least MIN_REQUESTS requests (test_enough_requests_were_generated, the module's last test).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from gateway.catalog import load_services
from gateway.comments import load_comments
from gateway.openapi import build_openapi
from gateway.routes import build_routes
from tests.hardening.world import Organization, World

MIN_REQUESTS = 5_000
# Examples per operation and mode; hypothesis stops earlier for operations with few distinct requests.
EXAMPLES = {GenerationMode.POSITIVE: 70, GenerationMode.NEGATIVE: 50}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Path parameters → the kind of the fuzzing organization's resource that can stand in for them.
REAL_IDS = {
    "deviceId": "device",
    "ruleId": "rule",
    "alertId": "alert",
    "userId": "user",
    "firmwareId": "firmware",
    "deploymentId": "deployment",
    "jobId": "job",
    "exportId": "export",
    "reportId": "report",
}

# Operations that fail today in code still being built elsewhere: strict, so they must be taken out when fixed.
KNOWN_FAILURES: dict[str, str] = {}

sent: Counter[str] = Counter()


def _operations() -> list[str]:
    """The operations of the document the gateway serves, built here so that pytest can name one test each."""
    services = load_services()
    document = build_openapi(build_routes(services), services, load_comments())
    methods = ("get", "post", "put", "patch", "delete")
    return [f"{m.upper()} {path}" for path, item in document["paths"].items() for m in item if m in methods]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def fuzzed(world: World, tmp_path_factory: pytest.TempPathFactory) -> Organization:
    """An organization of its own: generated deletes and updates may wreck its resources freely."""
    org = Organization("org-fuzz", world.mesh, Path(tmp_path_factory.mktemp("fuzz")))
    org.enrol()
    org.seed()
    return org


@pytest.fixture(scope="module")
def schema(world: World) -> Any:
    return schemathesis.openapi.from_url(world.mesh.gateway + "/openapi.json")


def test_the_served_document_has_the_operations_under_test(schema: Any) -> None:
    served = {f"{op.method.upper()} {op.path}" for op in (r.ok() for r in schema.get_all_operations())}
    assert served == set(OPERATIONS)


def _with_real_ids(org: Organization, case: Case, use_real: bool) -> Case:
    if use_real and case.path_parameters:
        for name in list(case.path_parameters):
            kind = "job_device" if name == "deviceId" and "jobId" in case.path_parameters else REAL_IDS.get(name)
            if kind in org.ids:
                case.path_parameters[name] = org.ids[kind]
    return case


def _params() -> list[Any]:
    marks = {k: [pytest.mark.xfail(strict=True, reason=v)] for k, v in KNOWN_FAILURES.items()}
    return [pytest.param(label, id=label, marks=marks.get(label, [])) for label in OPERATIONS]


@pytest.mark.parametrize("label", _params())
def test_operation(world: World, fuzzed: Organization, schema: Any, label: str) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {fuzzed.admin.headers['authorization'].split(' ', 1)[1]}"}
    session = requests.Session()
    failures: dict[str, str] = {}

    for mode, examples in EXAMPLES.items():
        strategy = operation.as_strategy(generation_mode=mode)
        if mode is GenerationMode.POSITIVE:
            strategy = st.builds(lambda case, real: _with_real_ids(fuzzed, case, real), strategy, st.booleans())

        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=os.environ.get("HARDENING_RANDOM") is None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is recorded as it came
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def send(case: Case) -> None:
            response = case.call(base_url=world.mesh.gateway, session=session, headers=headers, timeout=30)
            sent[label] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except BaseException as failure:  # schemathesis raises a group of check failures
                if isinstance(failure, KeyboardInterrupt):
                    raise
                title = str(failure).splitlines()[2:4]
                failures.setdefault(" ".join(title) or type(failure).__name__, _describe(case, response))

        try:
            send()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, f"{label}: no valid request could be generated"
            # An operation without parameters or body has no invalid request to make.
    assert not failures, f"{label}: {len(failures)} distinct failures:\n" + "\n".join(
        f"- {title}\n  {example}" for title, example in failures.items()
    )


def _describe(case: Case, response: requests.Response) -> str:
    return f"{case.as_curl_command()} → {response.status_code} {response.text[:300]}"


def test_enough_requests_were_generated() -> None:
    """Runs last in the module: the operations above must have sent enough requests between them."""
    assert set(sent) == set(OPERATIONS), f"operations that sent nothing: {set(OPERATIONS) - set(sent)}"
    total = sum(sent.values())
    print(f"\nschemathesis: {total} requests over {len(sent)} operations")
    assert total >= MIN_REQUESTS, f"only {total} generated requests: {sent.most_common()}"
