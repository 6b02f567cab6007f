"""The shared ObjectStore contract, on the filesystem (downloads served by the gateway's /objects endpoint)
and on S3 (moto in server mode): streamed writes, replace, nothing left by a failed write, listing, reads,
deletes and presigned downloads that need no token but a valid signature."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aioboto3
import httpx
import pytest
from starlette.applications import Starlette

from gateway.uploads import ObjectEndpoints
from services.runtime.objects import ObjectStore, ObjectStoreSettings, open_object_store
from services.runtime.objects.s3 import MIN_PART_SIZE
from services.runtime.settings import RuntimeSettings
from tests.support.moto import REGION

GATEWAY = "http://gateway.test"


@dataclass
class Backend:
    name: str
    store: ObjectStore
    http: httpx.AsyncClient  # reaches the store's download URLs
    root: Path | None = None  # fs only
    client: object | None = None  # s3 only: the boto client, to look for leftover multipart uploads
    bucket: str = ""


@pytest.fixture(params=["fs", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    runtime = RuntimeSettings(data_dir=tmp_path, public_url=GATEWAY)
    async with AsyncExitStack() as resources:
        if request.param == "fs":
            store = await open_object_store(runtime, ObjectStoreSettings(backend="fs"), resources)
            app = Starlette(routes=ObjectEndpoints(runtime, None).routes())
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=GATEWAY)
            async with http:
                yield Backend("fs", store, http, root=tmp_path / "objects")
        else:
            endpoint = request.getfixturevalue("moto_endpoint")
            bucket = f"data-{secrets.token_hex(4)}"
            settings = ObjectStoreSettings(
                backend="s3", bucket=bucket, region=REGION, aws_endpoint_url=endpoint, part_size_mib=5
            )
            store = await open_object_store(runtime, settings, resources)
            client = await resources.enter_async_context(
                aioboto3.Session().client("s3", region_name=REGION, endpoint_url=endpoint)
            )
            async with httpx.AsyncClient() as http:
                yield Backend("s3", store, http, client=client, bucket=bucket)


async def stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def pieces(total: int, size: int) -> Iterator[bytes]:
    """Deterministic, incompressible-looking bytes in pieces (a different byte pattern per piece)."""
    sent = 0
    while sent < total:
        length = min(size, total - sent)
        yield hashlib.sha256(str(sent).encode()).digest() * (length // 32) + b"x" * (length % 32)
        sent += length


async def read_all(store: ObjectStore, key: str, chunk_size: int = 64 * 1024) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, chunk_size=chunk_size)])


async def test_a_small_write_reads_back_with_its_size_and_digest(backend: Backend) -> None:
    store = backend.store
    written = await store.write("reports/org-1/r-1.csv", stream(b"a,b\n", b"1,2\n"), content_type="text/csv")
    assert (written.key, written.size) == ("reports/org-1/r-1.csv", 8)
    assert written.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    info = await store.head("reports/org-1/r-1.csv")
    assert info is not None
    assert info.size == 8
    assert await store.exists("reports/org-1/r-1.csv")
    assert await read_all(store, "reports/org-1/r-1.csv", chunk_size=3) == b"a,b\n1,2\n"


async def test_an_empty_object_is_an_object(backend: Backend) -> None:
    written = await backend.store.write("empty/nothing.json", stream())
    assert written.size == 0
    info = await backend.store.head("empty/nothing.json")
    assert info is not None
    assert info.size == 0


async def test_a_large_write_streams_in_parts_and_reads_back_whole(backend: Backend) -> None:
    total = 2 * MIN_PART_SIZE + 123_457  # three parts on S3 (5 MiB each, the last shorter)
    expected = hashlib.sha256()
    for piece in pieces(total, 100_000):
        expected.update(piece)

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces(total, 100_000):
            yield piece

    written = await backend.store.write("exports/big.bin", body())
    assert written.size == total
    assert written.sha256 == expected.hexdigest()
    read = hashlib.sha256()
    size = 0
    async for chunk in backend.store.read("exports/big.bin", chunk_size=1024 * 1024):
        read.update(chunk)
        size += len(chunk)
    assert (size, read.hexdigest()) == (total, expected.hexdigest())


async def test_a_write_replaces_the_object(backend: Backend) -> None:
    await backend.store.write("k/one", stream(b"first version"))
    await backend.store.write("k/one", stream(b"second"))
    assert await read_all(backend.store, "k/one") == b"second"


async def test_a_failed_write_leaves_nothing_and_keeps_the_old_object(backend: Backend) -> None:
    await backend.store.write("k/kept", stream(b"old"))

    async def failing() -> AsyncIterator[bytes]:
        for piece in pieces(MIN_PART_SIZE + 10, 1024 * 1024):  # past one S3 part: a multipart upload started
            yield piece
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        await backend.store.write("k/kept", failing())
    with pytest.raises(RuntimeError):
        await backend.store.write("k/new", failing())
    assert await read_all(backend.store, "k/kept") == b"old"
    assert await backend.store.head("k/new") is None
    if backend.root is not None:
        assert os.listdir(backend.root / ".incoming") == []
    else:
        uploads = await backend.client.list_multipart_uploads(Bucket=backend.bucket)  # type: ignore[attr-defined]
        assert uploads.get("Uploads", []) == []


async def test_listing_by_prefix_in_key_order(backend: Backend) -> None:
    for key in ("archive/org-b/2025-01-02.parquet", "archive/org-a/2025-01-01.parquet", "reports/x.pdf"):
        await backend.store.write(key, stream(key.encode()))
    listed = [info async for info in backend.store.list_objects("archive/")]
    assert [info.key for info in listed] == ["archive/org-a/2025-01-01.parquet", "archive/org-b/2025-01-02.parquet"]
    assert [info.size for info in listed] == [len(info.key) for info in listed]
    assert len([info async for info in backend.store.list_objects()]) == 3


async def test_delete_is_idempotent_and_reading_a_missing_object_fails(backend: Backend) -> None:
    await backend.store.write("gone/soon", stream(b"x"))
    await backend.store.delete("gone/soon")
    await backend.store.delete("gone/soon")
    assert await backend.store.head("gone/soon") is None
    assert not await backend.store.exists("gone/soon")
    with pytest.raises(FileNotFoundError):
        await read_all(backend.store, "gone/soon")


async def test_a_presigned_download_needs_no_token_but_a_valid_signature(backend: Backend) -> None:
    await backend.store.write("reports/org-1/r-2.pdf", stream(b"%PDF-1.4 body"))
    url = await backend.store.presign_download("reports/org-1/r-2.pdf", expires_in=60, filename="r-2.pdf")
    response = await backend.http.get(url)
    assert response.status_code == 200
    assert response.content == b"%PDF-1.4 body"
    if backend.name == "fs":
        assert (await backend.http.get(tampered(url))).status_code == 403
    else:
        # moto does not check signatures (S3 does): check that the URL is signed, expires and names the file.
        query = parse_qs(urlsplit(url).query)
        assert {"Signature", "X-Amz-Signature"} & query.keys()
        assert 'filename="r-2.pdf"' in query["response-content-disposition"][0]


async def test_a_tampered_or_expired_download_url_is_refused_by_the_gateway(tmp_path: Path) -> None:
    runtime = RuntimeSettings(data_dir=tmp_path, public_url=GATEWAY)
    async with AsyncExitStack() as resources:
        store = await open_object_store(runtime, ObjectStoreSettings(backend="fs"), resources)
        await store.write("k/signed", stream(b"x"))
        app = Starlette(routes=ObjectEndpoints(runtime, None).routes())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=GATEWAY) as http:
            good = await store.presign_download("k/signed", expires_in=60)
            assert (await http.get(good)).status_code == 200
            assert (await http.get(tampered(good))).status_code == 403
            assert (await http.get(good.replace("k/signed", "k/other"))).status_code == 403
            expired = await store.presign_download("k/signed", expires_in=-5)
            assert (await http.get(expired)).status_code == 403


@pytest.mark.parametrize("key", ["../escape", "a//b", "with space", "/absolute", "a/./b", ""])
async def test_unsafe_keys_are_refused(backend: Backend, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        await backend.store.write(key, stream(b"x"))
    with pytest.raises(ValueError, match="invalid object key"):
        await backend.store.presign_download(key, expires_in=60)


def tampered(url: str) -> str:
    """The same URL with the last character of its signature changed (fs: signature, S3: [X-Amz-]Signature)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    name = next(name for name in ("signature", "X-Amz-Signature", "Signature") if name in query)
    value = query[name][0]
    query[name] = [value[:-1] + ("0" if value[-1] != "0" else "1")]
    return urlunsplit(parts._replace(query=urlencode({k: v[0] for k, v in query.items()})))
