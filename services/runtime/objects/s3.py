"""Objects in an S3 bucket through aioboto3.

A write buffers one part (≥ 5 MiB, S3's minimum for every part but the last) and sends it with UploadPart,
so memory holds one part whatever the object's size; an object smaller than a part is a single PutObject.
S3 makes the object visible only when CompleteMultipartUpload succeeds; a failed write aborts the upload so
no parts linger (and are billed). Downloads are presigned GET URLs.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.runtime.objects.store import READ_CHUNK_SIZE, ObjectInfo, WrittenObject
from services.runtime.signed_upload import valid_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
_MISSING = ("404", "NoSuchKey", "NotFound")


class S3ObjectStore:
    def __init__(self, client: S3Client, bucket: str, *, part_size: int = DEFAULT_PART_SIZE):
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"S3 parts are at least {MIN_PART_SIZE} bytes")
        self._client = client
        self._bucket = bucket
        self._part_size = part_size

    async def close(self) -> None:
        return None

    async def ensure_bucket(self) -> None:
        """Create the bucket when missing (moto, a fresh environment); an existing one is left as it is."""
        try:
            await self._client.head_bucket(Bucket=self._bucket)
        except ClientError:
            await self._client.create_bucket(Bucket=self._bucket)

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str = "application/octet-stream"
    ) -> WrittenObject:
        _check(key)
        digest, size, buffer = hashlib.sha256(), 0, bytearray()
        upload: _MultipartUpload | None = None
        try:
            async for chunk in chunks:
                buffer += chunk
                while len(buffer) >= self._part_size:
                    part = bytes(buffer[: self._part_size])
                    del buffer[: self._part_size]
                    digest.update(part)
                    size += len(part)
                    if upload is None:
                        upload = await _MultipartUpload.start(self._client, self._bucket, key, content_type)
                    await upload.send(part)
            digest.update(buffer)
            size += len(buffer)
            if upload is None:
                body = bytes(buffer)
                await self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=content_type)
            else:
                if buffer:
                    await upload.send(bytes(buffer))
                await upload.complete()
        except BaseException:
            if upload is not None:
                await upload.abort()
            raise
        return WrittenObject(key, size, digest.hexdigest())

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            response = await self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise
        return ObjectInfo(key, int(response["ContentLength"]), response.get("LastModified"))

    async def exists(self, key: str) -> bool:
        return await self.head(key) is not None

    async def read(self, key: str, *, chunk_size: int = READ_CHUNK_SIZE) -> AsyncIterator[bytes]:
        try:
            response = await self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if _code(error) in _MISSING:
                raise FileNotFoundError(key) from error
            raise
        body = response["Body"]
        try:
            async for chunk in body.iter_chunks(chunk_size):
                yield chunk
        finally:
            body.close()

    async def list_objects(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], int(item["Size"]), item.get("LastModified"))

    async def delete(self, key: str) -> None:
        await self._client.delete_object(Bucket=self._bucket, Key=key)

    async def presign_download(self, key: str, *, expires_in: float, filename: str | None = None) -> str:
        _check(key)
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        url: str = await self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=int(expires_in))
        return url


class _MultipartUpload:
    def __init__(self, client: S3Client, bucket: str, key: str, upload_id: str):
        self._client = client
        self._bucket = bucket
        self._key = key
        self._upload_id = upload_id
        self._parts: list[CompletedPartTypeDef] = []

    @classmethod
    async def start(cls, client: S3Client, bucket: str, key: str, content_type: str) -> _MultipartUpload:
        response = await client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
        return cls(client, bucket, key, response["UploadId"])

    async def send(self, part: bytes) -> None:
        number = len(self._parts) + 1
        response = await self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=part
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    async def complete(self) -> None:
        await self._client.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )

    async def abort(self) -> None:
        # The write's own error is the one worth reporting; a bucket lifecycle rule cleans any straggler.
        with contextlib.suppress(ClientError):
            await self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)


def _check(key: str) -> None:
    # The filesystem's rule on every adapter, so that a key works wherever the data ends up.
    if not valid_key(key):
        raise ValueError(f"invalid object key {key!r}")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
