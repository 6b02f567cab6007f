"""The S3 ObjectStore on moto (server mode): presigned POST through the same client code as the embedded store,
presigned downloads, streaming reads, and "object created" delivered through SQS to the processor's listener."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import aioboto3
import httpx
import pytest

from iotmon.firmware_cmd import upload_image
from services.firmware.adapters.object_store_s3 import S3ObjectStore
from services.firmware.adapters.s3_events import S3EventQueue, configure_notifications
from services.firmware.domain.catalog.image import pack
from tests.support.moto import REGION

pytestmark = pytest.mark.needs_server

IMAGE = pack("v1.0.0", ("temp-sensor",), b"firmware" * 3000)


@pytest.fixture
async def s3(moto_endpoint: str) -> AsyncIterator[tuple[S3ObjectStore, str, str]]:
    bucket = f"firmware-{secrets.token_hex(4)}"
    async with aioboto3.Session().client("s3", region_name=REGION, endpoint_url=moto_endpoint) as client:
        store = S3ObjectStore(client, bucket)
        await store.ensure_bucket()
        await store.ensure_bucket()  # idempotent
        yield store, bucket, moto_endpoint


async def test_presigned_post_from_the_upload_command_lands_in_the_bucket(
    s3: tuple[S3ObjectStore, str, str], tmp_path: Path
) -> None:
    store, _, _ = s3
    target = await store.presign_upload(
        "firmware/fw-1.bin", max_bytes=10**6, expires_in=300, metadata={"firmware-id": "fw-1"}
    )
    assert "policy" in target.fields
    assert target.fields["key"] == "firmware/fw-1.bin"
    image = tmp_path / "fw.iotf"
    image.write_bytes(IMAGE)
    response = await asyncio.to_thread(upload_image, target.url, target.fields, image)
    assert response.status_code == 204, response.text
    info = await store.head("firmware/fw-1.bin")
    assert info is not None
    assert info.size == len(IMAGE)
    assert b"".join([c async for c in store.chunks("firmware/fw-1.bin", chunk_size=5000)]) == IMAGE
    url = await store.presign_download("firmware/fw-1.bin", expires_in=60)
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == IMAGE
    await store.delete("firmware/fw-1.bin")
    assert await store.head("firmware/fw-1.bin") is None


async def test_object_created_reaches_the_listener_through_sqs(
    s3: tuple[S3ObjectStore, str, str], tmp_path: Path
) -> None:
    store, bucket, endpoint = s3
    session = aioboto3.Session()
    async with (
        session.client("s3", region_name=REGION, endpoint_url=endpoint) as s3_client,
        session.client("sqs", region_name=REGION, endpoint_url=endpoint) as sqs,
    ):
        queue_url = await configure_notifications(s3_client, sqs, bucket, f"uploads-{bucket}", "firmware/")
        seen: list[tuple[str, datetime | None]] = []

        async def on_created(key: str, at: datetime | None) -> None:
            seen.append((key, at))

        queue = S3EventQueue(sqs, queue_url, on_created, wait_seconds=1)
        target = await store.presign_upload("firmware/fw 2.bin", max_bytes=10**6, expires_in=300)
        image = tmp_path / "fw.iotf"
        image.write_bytes(IMAGE)
        assert (await asyncio.to_thread(upload_image, target.url, target.fields, image)).status_code == 204
        await s3_client.put_object(Bucket=bucket, Key="elsewhere/x.bin", Body=b"x")  # outside the prefix
        for _ in range(10):
            await queue.poll_once()
            if seen:
                break
        assert [key for key, _ in seen] == ["firmware/fw 2.bin"], "keys are URL-decoded; other prefixes ignored"
        assert seen[0][1] is not None
        assert await queue.poll_once() == 0, "a processed message is deleted"
