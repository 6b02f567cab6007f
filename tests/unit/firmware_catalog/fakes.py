"""In-memory stand-ins for the catalog's ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime

from services.firmware.domain.catalog.firmware import Firmware
from services.firmware.domain.catalog.objects import ObjectInfo, ScanVerdict, UploadTarget


class FakeObjects:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads = 0
        self.fail_reads = False

    async def presign_upload(
        self, key: str, *, max_bytes: int, expires_in: float, metadata: Mapping[str, str] | None = None
    ) -> UploadTarget:
        return UploadTarget("http://store/upload", {"key": key, "max": str(max_bytes), **(metadata or {})})

    async def presign_download(self, key: str, *, expires_in: float) -> str:
        return f"http://store/{key}?expires_in={expires_in}"

    async def chunks(self, key: str, *, chunk_size: int = 1000) -> AsyncIterator[bytes]:
        self.reads += 1
        if self.fail_reads:
            raise OSError("disk went away")
        data = self.objects[key]
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def head(self, key: str) -> ObjectInfo | None:
        data = self.objects.get(key)
        return ObjectInfo(key, len(data)) if data is not None else None

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def close(self) -> None:
        return None


class RecordedEvents:
    def __init__(self) -> None:
        self.validated_events: list[Firmware] = []

    async def validated(self, firmware: Firmware) -> None:
        self.validated_events.append(firmware)


class FakeScanner:
    def __init__(self, verdict: ScanVerdict):
        self._verdict = verdict
        self.scanned = b""

    async def open(self) -> FakeScanner:
        return self

    async def send(self, chunk: bytes) -> None:
        self.scanned += chunk

    async def verdict(self) -> ScanVerdict:
        return self._verdict

    async def abort(self) -> None:
        return None


class FixedClock:
    def __init__(self, now: datetime):
        self.at = now

    def now(self) -> datetime:
        return self.at
