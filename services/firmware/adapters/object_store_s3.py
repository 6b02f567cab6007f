"""The production ObjectStore: an S3 bucket through aioboto3.

Uploads are presigned POSTs (generate_presigned_post with a content-length-range condition and the metadata
pinned); downloads, reads, inspection and deletion are the shared S3 store's (services/runtime/objects/s3.py).
With SigV4 the form's signature fields are named x-amz-algorithm, x-amz-credential, x-amz-date and
x-amz-signature: clients post every field as given, whatever the names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from services.firmware.domain.catalog.objects import ObjectInfo, UploadTarget
from services.runtime.objects import s3
from services.runtime.objects.store import READ_CHUNK_SIZE

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

METADATA_PREFIX = "x-amz-meta-"


class S3ObjectStore:
    def __init__(self, client: S3Client, bucket: str):
        self._client = client
        self._bucket = bucket
        self._objects = s3.S3ObjectStore(client, bucket)

    async def close(self) -> None:
        await self._objects.close()

    async def ensure_bucket(self) -> None:
        """Create the bucket when missing (moto, a fresh environment); an existing one is left as it is."""
        await self._objects.ensure_bucket()

    async def presign_upload(
        self, key: str, *, max_bytes: int, expires_in: float, metadata: Mapping[str, str] | None = None
    ) -> UploadTarget:
        fields = {f"{METADATA_PREFIX}{name}": value for name, value in (metadata or {}).items()}
        conditions: list[Any] = [["content-length-range", 0, max_bytes], *({n: v} for n, v in fields.items())]
        post = await self._client.generate_presigned_post(
            Bucket=self._bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=int(expires_in)
        )
        return UploadTarget(post["url"], {name: str(value) for name, value in post["fields"].items()})

    async def presign_download(self, key: str, *, expires_in: float) -> str:
        return await self._objects.presign_download(key, expires_in=expires_in)

    def chunks(self, key: str, *, chunk_size: int = READ_CHUNK_SIZE) -> AsyncIterator[bytes]:
        return self._objects.read(key, chunk_size=chunk_size)

    async def head(self, key: str) -> ObjectInfo | None:
        info = await self._objects.head(key)
        return ObjectInfo(info.key, info.size, info.modified_at) if info else None

    async def delete(self, key: str) -> None:
        await self._objects.delete(key)
