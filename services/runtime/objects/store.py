"""What every object store adapter does: write a stream, describe, read back, delete, hand out a download URL."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

READ_CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified_at: datetime | None = None


@dataclass(frozen=True)
class WrittenObject:
    """The object as it was written: its size and the SHA-256 of its bytes (hex), computed while streaming."""

    key: str
    size: int
    sha256: str


class ObjectStore(Protocol):
    """Keys are slash-separated segments of `A-Z a-z 0-9 . _ -` (never `.` or `..`), at most 512 characters,
    the same on every adapter; another key is a ValueError."""

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str = "application/octet-stream"
    ) -> WrittenObject:
        """Store the bytes at `key`, replacing what was there. Durable before visible: a reader sees the old
        object or the whole new one, never part of it; when the iterator raises, nothing is left behind."""
        ...

    async def head(self, key: str) -> ObjectInfo | None:
        """Size and time of the object, or None when there is none."""
        ...

    async def exists(self, key: str) -> bool: ...

    def read(self, key: str, *, chunk_size: int = READ_CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The object's bytes in chunks (never the whole object in memory); FileNotFoundError when absent."""
        ...

    def list_objects(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Objects whose key starts with `prefix`, in key order."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; nothing happens when it is absent."""
        ...

    async def presign_download(self, key: str, *, expires_in: float, filename: str | None = None) -> str:
        """A URL anyone holding it may GET the object from for `expires_in` seconds (no token, the signature
        is the permission). `filename` asks for a Content-Disposition attachment name where supported."""
        ...

    async def close(self) -> None: ...
