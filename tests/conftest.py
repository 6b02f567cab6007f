"""Fixtures shared by every test tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.moto import apply_aws_test_environment, moto_server
from tests.support.tokens import TokenMinter


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server for the session; tests isolate themselves with unique table/pool/thing names."""
    apply_aws_test_environment()
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def token_minter(tmp_path_factory: pytest.TempPathFactory) -> TokenMinter:
    return TokenMinter.create(Path(tmp_path_factory.mktemp("keys")))
