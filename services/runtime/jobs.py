"""What the archiving jobs of several services share (docs/jobs.md): the progress step a job's RPC streams, and
writing a file to the object store then reading it back before anything it holds may be deleted."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from services.kernel.errors import DomainError, ErrorKind
from services.runtime.objects import ObjectStore


@dataclass
class JobStep:
    """One line of a job's progress: what it works on, how far it is, and its running counters."""

    stage: str
    done: int
    total: int
    counters: dict[str, float] = field(default_factory=dict)
    finished: bool = False


class ArchiveNotVerified(DomainError):
    kind = ErrorKind.INTERNAL
    default_reason = "ARCHIVE_NOT_VERIFIED"


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


async def single_chunk(data: bytes) -> AsyncIterator[bytes]:
    """`data` as the chunk stream `ObjectStore.write` takes."""
    yield data


async def read_object(objects: ObjectStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in objects.read(key)])


async def write_verified(
    objects: ObjectStore,
    key: str,
    data: bytes,
    *,
    content_type: str,
    problems_in: Callable[[bytes], list[str]],
) -> None:
    """Write `data` at `key`, read it back and check it: the SHA-256 of the bytes written and read, then
    `problems_in(stored)` for what the file must hold. ArchiveNotVerified when anything is off, so the caller
    deletes nothing."""
    meant = hashlib.sha256(data).hexdigest()
    written = await objects.write(key, single_chunk(data), content_type=content_type)
    stored = await read_object(objects, key)
    if written.sha256 != meant or hashlib.sha256(stored).hexdigest() != meant:
        problems = ["bytes differ from what was written"]
    else:
        problems = problems_in(stored)
    if problems:
        raise ArchiveNotVerified(f"archive {key} failed verification: {'; '.join(problems)}; nothing deleted")
