"""The firmware processor's logic (§4.5): an uploaded object becomes a validated or rejected firmware.

Idempotent: the record moves pending_upload → processing by compare-and-set, so a duplicate or redelivered
"object created" finds it taken and does nothing. A processor that dies mid-way leaves `processing` with its
start time; after `stale_after` another delivery may take over. A failure that is not the image's fault
(the store or the scanner unreachable) hands the record back and raises, so the event is delivered again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.firmware.domain.catalog.firmware import Firmware, FirmwareStatus
from services.firmware.domain.catalog.image import ImageProblem, ImageReader, ImageRejected, check_matches
from services.firmware.ports import CatalogEvents, FirmwareStore, MalwareScanner, ObjectStore, ScanSession
from services.kernel.clock import Clock, SystemClock


class Outcome(StrEnum):
    VALIDATED = "validated"
    REJECTED = "rejected"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED = "expired"
    ALREADY_PROCESSED = "already_processed"
    MISSING_OBJECT = "missing_object"


@dataclass(frozen=True)
class ProcessingPolicy:
    max_image_bytes: int
    # A record left in `processing` this long belongs to a processor that died.
    stale_after: timedelta = timedelta(minutes=10)
    # Clock skew allowed between the store that took the upload and this process.
    expiry_grace: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Processed:
    outcome: Outcome
    firmware: Firmware | None = None


class FirmwareProcessor:
    def __init__(
        self,
        store: FirmwareStore,
        objects: ObjectStore,
        events: CatalogEvents,
        policy: ProcessingPolicy,
        scanner: MalwareScanner | None = None,
        clock: Clock | None = None,
    ):
        self._store = store
        self._objects = objects
        self._events = events
        self._policy = policy
        self._scanner = scanner
        self._clock = clock or SystemClock()

    async def on_object_created(self, key: str, uploaded_at: datetime | None = None) -> Processed:
        current = await self._store.find_by_object_key(key)
        if current is None:
            return Processed(Outcome.UNKNOWN_KEY)
        now = self._clock.now()
        if not self._may_take(current, uploaded_at or now, now):
            expired = current.status is FirmwareStatus.PENDING_UPLOAD
            return Processed(Outcome.EXPIRED if expired else Outcome.ALREADY_PROCESSED, current)
        taken = replace(current, status=FirmwareStatus.PROCESSING, processing_started_at=now)
        if not await self._store.replace(taken, expected=current):
            return Processed(Outcome.ALREADY_PROCESSED, current)
        try:
            finished = await self._inspect(taken)
        except BaseException:
            await self._store.replace(current, expected=taken)
            raise
        if finished is None:
            await self._store.replace(current, expected=taken)
            return Processed(Outcome.MISSING_OBJECT, current)
        if not await self._store.replace(finished, expected=taken):
            return Processed(Outcome.ALREADY_PROCESSED, current)
        await self._events.validated(finished)
        validated = finished.status is FirmwareStatus.VALIDATED
        return Processed(Outcome.VALIDATED if validated else Outcome.REJECTED, finished)

    def _may_take(self, firmware: Firmware, uploaded_at: datetime, now: datetime) -> bool:
        if firmware.status is FirmwareStatus.PENDING_UPLOAD:
            deadline = firmware.upload_expires_at
            return deadline is None or uploaded_at <= deadline + self._policy.expiry_grace
        if firmware.status is FirmwareStatus.PROCESSING:
            started = firmware.processing_started_at
            return started is None or now - started > self._policy.stale_after
        return False

    async def _inspect(self, firmware: Firmware) -> Firmware | None:
        """The record as processing leaves it, or None when the object is not in the store."""
        info = await self._objects.head(firmware.object_key)
        if info is None:
            return None
        try:
            checksum, size = await self._read(firmware, info.size)
        except ImageRejected as rejected:
            return replace(firmware, status=FirmwareStatus.REJECTED, rejection_reason=rejected.reason, size=info.size)
        return replace(
            firmware,
            status=FirmwareStatus.VALIDATED,
            checksum=checksum,
            size=size,
            rejection_reason=None,
            validated_at=self._clock.now(),
        )

    async def _read(self, firmware: Firmware, stored_size: int) -> tuple[str, int]:
        """Stream the object once: SHA-256 and size of all of it, the image parsed, the scanner fed."""
        limit = self._policy.max_image_bytes
        if stored_size > limit:
            raise ImageRejected(ImageProblem.TOO_LARGE, f"the image has {stored_size} bytes, at most {limit} allowed")
        reader = ImageReader()
        digest = hashlib.sha256()
        size = 0
        session: ScanSession | None = await self._scanner.open() if self._scanner is not None else None
        try:
            async for chunk in self._objects.chunks(firmware.object_key):
                size += len(chunk)
                if size > limit:
                    raise ImageRejected(ImageProblem.TOO_LARGE, f"the image has more than {limit} bytes")
                digest.update(chunk)
                reader.feed(chunk)
                if session is not None:
                    await session.send(chunk)
            check_matches(reader.finish(), firmware.version, firmware.device_types)
            if session is not None:
                verdict = await session.verdict()
                session = None
                if not verdict.clean:
                    found = verdict.signature or "malware"
                    raise ImageRejected(ImageProblem.MALWARE_FOUND, f"the virus scanner found {found}")
        finally:
            if session is not None:
                await session.abort()
        return digest.hexdigest(), size
