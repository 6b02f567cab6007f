"""The shared object store (services/runtime/objects) for tests: on the filesystem under tmp_path, or in a
bucket of its own on the session's moto server."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from services.runtime.objects import ObjectStore, ObjectStoreSettings, open_object_store
from services.runtime.settings import RuntimeSettings
from tests.support.moto import REGION

OBJECT_STORE_KINDS = ["fs", "s3"]


@asynccontextmanager
async def open_test_objects(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, bucket_prefix: str = "objects"
) -> AsyncIterator[ObjectStore]:
    """The store of `kind` ("fs" or "s3"), closed at the end of the block; `request` reaches moto."""
    runtime = RuntimeSettings(data_dir=tmp_path / "data", public_url="http://gateway.test")
    async with AsyncExitStack() as resources:
        if kind == "fs":
            settings = ObjectStoreSettings(backend="fs")
        else:
            endpoint = request.getfixturevalue("moto_endpoint")
            settings = ObjectStoreSettings(
                backend="s3", bucket=f"{bucket_prefix}-{secrets.token_hex(4)}", region=REGION, aws_endpoint_url=endpoint
            )
        yield await open_object_store(runtime, settings, resources)
