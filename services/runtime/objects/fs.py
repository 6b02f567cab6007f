"""Objects as files under data_dir/objects, downloaded through the gateway's `GET /objects/{key}`.

A write streams to a temporary file in the same directory tree (so the rename is atomic), fsyncs it, renames
it into place and fsyncs the directory: after `write` returns the object survives a crash, and a reader never
sees half of it. Download URLs are signed with the key the gateway verifies (services/runtime/signed_upload.py).
File I/O runs in worker threads, a buffer of about a megabyte at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import quote

from services.runtime.objects.store import READ_CHUNK_SIZE, ObjectInfo, WrittenObject
from services.runtime.signed_upload import DOWNLOAD_PREFIX, object_path, sign_download, valid_key

# The gateway's uploads use the same folder for their temporary files; listings skip it.
INCOMING_DIR = ".incoming"
WRITE_BUFFER_BYTES = 1024 * 1024


class FilesystemObjectStore:
    def __init__(self, root: Path, public_url: str, secret: bytes):
        self._root = root
        self._public_url = public_url.rstrip("/")
        self._secret = secret

    async def close(self) -> None:
        return None

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str = "application/octet-stream"
    ) -> WrittenObject:
        destination = object_path(self._root, key)
        incoming = self._root / INCOMING_DIR
        await asyncio.to_thread(incoming.mkdir, parents=True, exist_ok=True)
        temporary = incoming / f"{secrets.token_hex(8)}.part"
        file = await asyncio.to_thread(temporary.open, "wb")
        digest, size, buffer = hashlib.sha256(), 0, bytearray()
        try:
            async for chunk in chunks:
                buffer += chunk
                if len(buffer) >= WRITE_BUFFER_BYTES:
                    block, buffer = bytes(buffer), bytearray()
                    digest.update(block)
                    size += len(block)
                    await asyncio.to_thread(file.write, block)
            digest.update(buffer)
            size += len(buffer)
            await asyncio.to_thread(_commit, file, bytes(buffer), temporary, destination)
        except BaseException:
            file.close()
            temporary.unlink(missing_ok=True)
            raise
        return WrittenObject(key, size, digest.hexdigest())

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            stat = await asyncio.to_thread(object_path(self._root, key).stat)
        except FileNotFoundError:
            return None
        return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    async def exists(self, key: str) -> bool:
        return await self.head(key) is not None

    async def read(self, key: str, *, chunk_size: int = READ_CHUNK_SIZE) -> AsyncIterator[bytes]:
        file = await asyncio.to_thread(object_path(self._root, key).open, "rb")
        try:
            while chunk := await asyncio.to_thread(file.read, chunk_size):
                yield chunk
        finally:
            file.close()

    async def list_objects(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        for info in await asyncio.to_thread(self._list, prefix):
            yield info

    def _list(self, prefix: str) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        for directory, subdirectories, files in os.walk(self._root):
            subdirectories[:] = [name for name in subdirectories if name != INCOMING_DIR]
            for name in files:
                path = Path(directory, name)
                key = path.relative_to(self._root).as_posix()
                if key.startswith(prefix) and valid_key(key):
                    with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                        stat = path.stat()
                        found.append(ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        return sorted(found, key=lambda info: info.key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(object_path(self._root, key).unlink, missing_ok=True)

    async def presign_download(self, key: str, *, expires_in: float, filename: str | None = None) -> str:
        # The gateway serves the file as application/octet-stream; `filename` is for S3 only.
        object_path(self._root, key)  # refuses an invalid key here rather than at download time
        expires_at = int(time.time() + expires_in)
        signature = sign_download(self._secret, key, expires_at)
        return f"{self._public_url}{DOWNLOAD_PREFIX}{quote(key)}?expires={expires_at}&signature={signature}"


def _commit(file: IO[bytes], tail: bytes, temporary: Path, destination: Path) -> None:
    """Durable before visible: data on disk, then the name, then the directory entry on disk too."""
    try:
        file.write(tail)
        file.flush()
        os.fsync(file.fileno())
    finally:
        file.close()
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, destination)
    directory = os.open(destination.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
