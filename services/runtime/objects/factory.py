"""Which object store a process uses, from `IOTMON_OBJECTS_*`: the data directory (default) or an S3 bucket.

One bucket for the data the services write (reports, exports, archives), each under its own key prefix;
firmware images have their own bucket and settings (IOTMON_FIRMWARE_*).
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.objects.store import ObjectStore
from services.runtime.settings import RuntimeSettings
from services.runtime.signed_upload import load_signing_key, objects_dir

# Where the gateway is when IOTMON_PUBLIC_URL is unset (the gateway's default port).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


class ObjectStoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_OBJECTS_", extra="ignore")

    # fs: data_dir/objects, downloaded through the gateway's /objects/{key}; s3: a bucket.
    backend: Literal["fs", "s3"] = "fs"
    bucket: str = "iotmon-data"
    region: str | None = None
    # For moto or LocalStack; botocore itself also honours AWS_ENDPOINT_URL.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("IOTMON_OBJECTS_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    part_size_mib: int = Field(default=8, ge=5, le=512, description="S3 multipart part size (memory per write)")
    # Create the bucket when it is missing (development, moto); production buckets come from infrastructure.
    create_bucket: bool = True


async def open_object_store(
    runtime: RuntimeSettings, settings: ObjectStoreSettings, resources: AsyncExitStack
) -> ObjectStore:
    """The configured store; its client is closed with `resources`."""
    if settings.backend == "s3":
        # Imported here: aioboto3 is the optional `aws` extra, absent from embedded-only installs.
        import aioboto3

        from services.runtime.objects.s3 import S3ObjectStore

        client = await resources.enter_async_context(
            aioboto3.Session().client("s3", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
        )
        store = S3ObjectStore(client, settings.bucket, part_size=settings.part_size_mib * 1024 * 1024)
        if settings.create_bucket:
            await store.ensure_bucket()
        return store
    from services.runtime.objects.fs import FilesystemObjectStore

    secret = await asyncio.to_thread(load_signing_key, runtime)
    return FilesystemObjectStore(objects_dir(runtime), runtime.public_url or DEFAULT_PUBLIC_URL, secret)
