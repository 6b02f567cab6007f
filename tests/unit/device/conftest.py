from __future__ import annotations

import pytest

from tests.unit.device.fakes import Harness


@pytest.fixture
def harness() -> Harness:
    return Harness()
