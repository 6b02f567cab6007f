"""Values exchanged with the object store and the malware scanner (their ports are in services/firmware/ports.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class UploadTarget:
    """Where and how a client uploads: a multipart/form-data POST of every field, then a `file` part, to url."""

    url: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified_at: datetime | None = None


@dataclass(frozen=True)
class ScanVerdict:
    clean: bool
    # The scanner's name for what it found (e.g. "Eicar-Signature"), when not clean.
    signature: str | None = None


def object_key(firmware_id: str) -> str:
    """Where an image lives in the store: the spec's `firmware/fw-123.bin`."""
    return f"firmware/{firmware_id}.bin"
