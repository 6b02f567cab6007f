"""One `iotmon up` for the e2e tests of a module, plus HTTP clients holding tokens of each role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.mesh import RunningMesh, iotmon_up


@pytest.fixture(scope="package")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    with iotmon_up(Path(tmp_path_factory.mktemp("iotmon"))) as running:
        yield running
        assert running.stop() == 0, "iotmon up must drain and exit 0 on SIGTERM"


class Api:
    """An HTTP client for the gateway acting as one user."""

    def __init__(self, mesh: RunningMesh, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=mesh.gateway, headers=headers, timeout=30)

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)


@pytest.fixture(scope="package")
def admin(mesh: RunningMesh) -> Api:
    return Api(mesh, mesh.token(role="admin", user="user-admin", email="admin@example.com"))


@pytest.fixture(scope="package")
def operator(mesh: RunningMesh) -> Api:
    return Api(mesh, mesh.token(role="operator", user="user-operator"))


@pytest.fixture(scope="package")
def viewer(mesh: RunningMesh) -> Api:
    return Api(mesh, mesh.token(role="viewer", user="user-viewer"))


@pytest.fixture(scope="package")
def other_org_admin(mesh: RunningMesh) -> Api:
    return Api(mesh, mesh.token(org="org-other", role="admin", user="user-other"))


@pytest.fixture(scope="package")
def anonymous(mesh: RunningMesh) -> Api:
    return Api(mesh, None)


def minutes_ago_today(minutes: int) -> int:
    """A minute-aligned time `minutes` ago but not before today's UTC midnight: tests that count "today" post
    readings from there, and just after midnight `minutes` ago is yesterday (a few minutes ahead is accepted)."""
    minute, day = 60_000, 86_400_000
    now_ms = time.time_ns() // 1_000_000
    return max((now_ms // minute - minutes) * minute, now_ms // day * day)
