"""One `iotmon up` for the hardening suite, with two seeded organizations (tests/hardening/world.py).

The mesh keeps the per-token rate limit on but high, so that the generated requests of one token never meet
it; test_request_limits.py runs a second gateway with a tight limit in front of the same services.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hardening.world import World
from tests.support.mesh import RunningMesh, iotmon_up

MESH_ENV = {"IOTMON_GATEWAY_RATE_LIMIT_PER_SECOND": "1000", "IOTMON_GATEWAY_RATE_LIMIT_BURST": "2000"}


@pytest.fixture(scope="package")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    with iotmon_up(Path(tmp_path_factory.mktemp("iotmon-hardening")), env=MESH_ENV) as running:
        yield running
        assert running.stop() == 0, "iotmon up must drain and exit 0 on SIGTERM"


@pytest.fixture(scope="package")
def world(mesh: RunningMesh, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World.build(mesh, Path(tmp_path_factory.mktemp("hardening-world")))
