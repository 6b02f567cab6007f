"""The embedded ObjectStore: files under data_dir/objects, uploaded and downloaded through the gateway.

Upload targets and download URLs are signed with the key the gateway verifies with
(services/runtime/signed_upload.py); the gateway writes uploads (temporary file, fsync, rename), this
adapter hands out the signed targets; reading, inspecting and deleting are the shared store's
(services/runtime/objects/fs.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.firmware.domain.catalog.objects import ObjectInfo, UploadTarget
from services.runtime.objects import fs
from services.runtime.objects.store import READ_CHUNK_SIZE
from services.runtime.signed_upload import METADATA_PREFIX, UPLOAD_PATH, UploadPolicy, sign_upload


class FilesystemObjectStore:
    def __init__(self, root: Path, public_url: str, secret: bytes):
        self._public_url = public_url.rstrip("/")
        self._secret = secret
        self._files = fs.FilesystemObjectStore(root, public_url, secret)

    async def close(self) -> None:
        await self._files.close()

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
        return await self._files.presign_download(key, expires_in=expires_in)

    def chunks(self, key: str, *, chunk_size: int = READ_CHUNK_SIZE) -> AsyncIterator[bytes]:
        return self._files.read(key, chunk_size=chunk_size)

    async def head(self, key: str) -> ObjectInfo | None:
        info = await self._files.head(key)
        return ObjectInfo(info.key, info.size, info.modified_at) if info else None

    async def delete(self, key: str) -> None:
        await self._files.delete(key)
