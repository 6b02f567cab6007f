"""The embedded ObjectStore: files under data_dir/objects, uploaded and downloaded through the gateway.

Upload targets and download URLs are signed with the key the gateway verifies with
(services/runtime/signed_upload.py); the gateway writes uploads (temporary file, fsync, rename), this
adapter reads, inspects and deletes them. File reads run in a worker thread, one chunk at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from services.firmware.domain.catalog.objects import ObjectInfo, UploadTarget
from services.runtime.signed_upload import (
    DOWNLOAD_PREFIX,
    METADATA_PREFIX,
    UPLOAD_PATH,
    UploadPolicy,
    object_path,
    sign_download,
    sign_upload,
)

CHUNK_SIZE = 1024 * 1024


class FilesystemObjectStore:
    def __init__(self, root: Path, public_url: str, secret: bytes):
        self._root = root
        self._public_url = public_url.rstrip("/")
        self._secret = secret

    async def close(self) -> None:
        return None

    async def presign_upload(
        self, key: str, *, max_bytes: int, expires_in: float, metadata: Mapping[str, str] | None = None
    ) -> UploadTarget:
        policy = UploadPolicy(
            key=key,
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
            max_bytes=max_bytes,
            fields={f"{METADATA_PREFIX}{name}": value for name, value in (metadata or {}).items()},
        )
        return UploadTarget(self._public_url + UPLOAD_PATH, sign_upload(self._secret, policy))

    async def presign_download(self, key: str, *, expires_in: float) -> str:
        expires_at = int(time.time() + expires_in)
        signature = sign_download(self._secret, key, expires_at)
        return f"{self._public_url}{DOWNLOAD_PREFIX}{quote(key)}?expires={expires_at}&signature={signature}"

    async def chunks(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        file = await asyncio.to_thread(object_path(self._root, key).open, "rb")
        try:
            while chunk := await asyncio.to_thread(file.read, chunk_size):
                yield chunk
        finally:
            file.close()

    async def head(self, key: str) -> ObjectInfo | None:
        path = object_path(self._root, key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            return None
        return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(object_path(self._root, key).unlink, missing_ok=True)
