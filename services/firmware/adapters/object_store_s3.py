"""The production ObjectStore: an S3 bucket through aioboto3.

Uploads are presigned POSTs (generate_presigned_post with a content-length-range condition and the metadata
pinned), downloads presigned GET URLs; the processor streams the object body. With SigV4 the form's
signature fields are named x-amz-algorithm, x-amz-credential, x-amz-date and x-amz-signature: clients post
every field as given, whatever the names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.firmware.domain.catalog.objects import ObjectInfo, UploadTarget

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

CHUNK_SIZE = 1024 * 1024
METADATA_PREFIX = "x-amz-meta-"


class S3ObjectStore:
    def __init__(self, client: S3Client, bucket: str):
        self._client = client
        self._bucket = bucket

    async def close(self) -> None:
        return None

    async def ensure_bucket(self) -> None:
        """Create the bucket when missing (moto, a fresh environment); an existing one is left as it is."""
        try:
            await self._client.head_bucket(Bucket=self._bucket)
        except ClientError:
            await self._client.create_bucket(Bucket=self._bucket)

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
        url: str = await self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=int(expires_in)
        )
        return url

    async def chunks(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        response = await self._client.get_object(Bucket=self._bucket, Key=key)
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk
        finally:
            body.close()

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            response = await self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(key, int(response["ContentLength"]), response.get("LastModified"))

    async def delete(self, key: str) -> None:
        await self._client.delete_object(Bucket=self._bucket, Key=key)
