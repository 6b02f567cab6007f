"""The embedded object store end to end: the firmware side signs, the gateway's /objects endpoints verify and
store, the processor's reads see the bytes; uploads posted with the same client code as for S3."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from iot.firmware.v1 import events_pb2
from starlette.applications import Starlette
from starlette.middleware import Middleware

from gateway.middleware import RequestContextMiddleware
from gateway.uploads import ObjectEndpoints
from iotmon.firmware_cmd import upload_image
from services.firmware.adapters.object_store_fs import FilesystemObjectStore
from services.firmware.domain.catalog.image import pack
from services.runtime.bus import InProcessBus
from services.runtime.settings import RuntimeSettings
from services.runtime.signed_upload import UploadPolicy, load_signing_key, objects_dir, sign_upload
from tests.support.uvicorn import serving_app

IMAGE = pack("v1.0.0", ("temp-sensor",), bytes(range(256)) * 400)


@dataclass
class Embedded:
    store: FilesystemObjectStore
    url: str
    events: list[events_pb2.FirmwareUploaded]
    settings: RuntimeSettings
    tmp: Path


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Embedded]:
    settings = RuntimeSettings(data_dir=tmp_path / "data")
    bus = InProcessBus()
    events: list[events_pb2.FirmwareUploaded] = []

    async def record(routing_key: str, payload: bytes) -> None:
        events.append(events_pb2.FirmwareUploaded.FromString(payload))

    bus.subscribe("firmware.uploaded", record, group="test")
    await bus.start()
    app = Starlette(routes=ObjectEndpoints(settings, bus).routes(), middleware=[Middleware(RequestContextMiddleware)])
    async with serving_app(app) as url:
        store = FilesystemObjectStore(objects_dir(settings), url, load_signing_key(settings))
        yield Embedded(store, url, events, settings, tmp_path)
    await bus.close()


async def post(target_url: str, fields: dict[str, str], image: bytes, tmp: Path) -> httpx.Response:
    path = tmp / "upload.iotf"
    path.write_bytes(image)
    return await asyncio.to_thread(upload_image, target_url, fields, path)


async def read_all(store: FilesystemObjectStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.chunks(key, chunk_size=4096)])


async def test_an_upload_is_stored_announced_and_readable(embedded: Embedded) -> None:
    target = await embedded.store.presign_upload(
        "firmware/fw-1.bin",
        max_bytes=len(IMAGE),
        expires_in=60,
        metadata={"firmware-id": "fw-1", "organization-id": "org-1"},
    )
    assert target.url == embedded.url + "/objects"
    response = await post(target.url, target.fields, IMAGE, embedded.tmp)
    assert response.status_code == 204, response.text
    assert await read_all(embedded.store, "firmware/fw-1.bin") == IMAGE
    info = await embedded.store.head("firmware/fw-1.bin")
    assert info is not None
    assert info.size == len(IMAGE)
    [event] = embedded.events
    assert (event.object_key, event.firmware_id, event.meta.organization_id, event.size) == (
        "firmware/fw-1.bin",
        "fw-1",
        "org-1",
        len(IMAGE),
    )
    assert not list((objects_dir(embedded.settings) / ".incoming").iterdir()), "no temporary file is left"


async def test_an_upload_over_the_policy_limit_is_413_and_leaves_nothing(embedded: Embedded) -> None:
    target = await embedded.store.presign_upload("firmware/fw-2.bin", max_bytes=len(IMAGE) - 1, expires_in=60)
    response = await post(target.url, target.fields, IMAGE, embedded.tmp)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert response.json()["error"]["requestId"]
    assert await embedded.store.head("firmware/fw-2.bin") is None
    assert not list((objects_dir(embedded.settings) / ".incoming").iterdir())
    assert embedded.events == []


async def test_tampered_expired_or_incomplete_forms_are_refused(embedded: Embedded) -> None:
    target = await embedded.store.presign_upload("firmware/fw-3.bin", max_bytes=10**6, expires_in=60)
    tampered = await post(target.url, target.fields | {"key": "firmware/other.bin"}, IMAGE, embedded.tmp)
    assert (tampered.status_code, tampered.json()["error"]["code"]) == (403, "POLICY_CONDITION_FAILED")
    secret = load_signing_key(embedded.settings)
    expired = sign_upload(secret, UploadPolicy("firmware/fw-3.bin", datetime.now(UTC) - timedelta(seconds=1), 10**6))
    refused = await post(target.url, expired, IMAGE, embedded.tmp)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "POLICY_EXPIRED")
    no_file = await asyncio.to_thread(httpx.post, target.url, data=target.fields, files={"other": ("x", b"x")})
    assert (no_file.status_code, no_file.json()["error"]["code"]) == (400, "FILE_MISSING")
    not_a_form = await asyncio.to_thread(httpx.post, target.url, content=b"raw")
    assert not_a_form.status_code == 400
    assert await embedded.store.head("firmware/fw-3.bin") is None
    assert embedded.events == []


async def test_presigned_downloads_serve_the_object_and_refuse_tampering(embedded: Embedded) -> None:
    target = await embedded.store.presign_upload("firmware/fw-4.bin", max_bytes=10**6, expires_in=60)
    assert (await post(target.url, target.fields, IMAGE, embedded.tmp)).status_code == 204
    url = await embedded.store.presign_download("firmware/fw-4.bin", expires_in=60)
    async with httpx.AsyncClient() as client:
        downloaded = await client.get(url)
        assert (downloaded.status_code, downloaded.content) == (200, IMAGE)
        forged = await client.get(url.replace("fw-4", "fw-5"))
        assert forged.status_code == 403
        assert (await client.get(url.split("?")[0])).status_code == 403
    await embedded.store.delete("firmware/fw-4.bin")
    assert await embedded.store.head("firmware/fw-4.bin") is None
