"""The telemetry use cases behind the API, each checking the caller first (spec §3.1.6, §4.1, issue 4)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Sequence
from typing import Any

from services.kernel.caller import Caller, Role
from services.kernel.clock import Clock, SystemClock
from services.kernel.errors import ValidationFailed
from services.kernel.pagination import Page, PageRequest
from services.telemetry.domain.batch import Batch
from services.telemetry.domain.errors import DeviceNotFound, DeviceTypeNotFound, InvalidJson
from services.telemetry.domain.history import (
    History,
    HistoryRequest,
    check_point_count,
    count_query,
    plan_history,
    shape_history,
)
from services.telemetry.domain.model import (
    BatchResult,
    DeadLetter,
    DeviceInfo,
    Rejection,
    RejectReason,
    Source,
)
from services.telemetry.domain.pipeline import ReplayOutcome, TelemetryPipeline
from services.telemetry.domain.schemas import DeviceType, DeviceTypes
from services.telemetry.ports import DeadLetterStore, DeviceDirectory, TimeSeriesStore

MAX_RECORDS_PER_CALL = 10_000
DEFAULT_REPLAY_LIMIT = 1_000
MAX_REPLAY_LIMIT = 10_000
# Dead letters go through the pipeline this many at a time, like any batch.
REPLAY_BATCH = 500


class TelemetryService:
    def __init__(
        self,
        pipeline: TelemetryPipeline,
        *,
        store: TimeSeriesStore,
        dead_letters: DeadLetterStore,
        directory: DeviceDirectory,
        device_types: DeviceTypes | None = None,
        decode: Callable[[bytes], Any],
        clock: Clock | None = None,
    ):
        self._pipeline = pipeline
        self._store = store
        self._dead_letters = dead_letters
        self._directory = directory
        self._types = device_types or DeviceTypes()
        self._decode = decode
        self._clock = clock or SystemClock()

    async def device_types(self, caller: Caller) -> list[DeviceType]:
        """Every known device type, by name; any role may read them (rules are written against them)."""
        caller.require(Role.VIEWER, "read device types")
        return [t for t in (self._types.get(name) for name in self._types.names()) if t is not None]

    async def device_type(self, caller: Caller, name: str) -> DeviceType:
        caller.require(Role.VIEWER, "read device types")
        found = self._types.get(name)
        if found is None:
            raise DeviceTypeNotFound(name)
        return found

    async def ingest(self, caller: Caller, records: Sequence[object], source: Source) -> BatchResult:
        """Records sent by a user (or a service) over the API; each one succeeds or fails on its own."""
        caller.require(Role.OPERATOR, "send telemetry")
        if len(records) > MAX_RECORDS_PER_CALL:
            raise ValidationFailed.of_field("records", f"at most {MAX_RECORDS_PER_CALL} per call, got {len(records)}")
        # A user sends for their organization, which must own each device; a service for the platform.
        organization = None if caller.is_service else caller.organization_id
        return await self._pipeline.ingest_batch(Batch.uniform(records, source, self._now_ms(), organization))

    async def ingest_document(self, caller: Caller, body: bytes) -> BatchResult:
        """POST /telemetry: the raw body {"records": [...]}, parsed here once."""
        caller.require(Role.OPERATOR, "send telemetry")
        try:
            document = self._decode(body)
        except ValueError as error:
            raise InvalidJson(f"the request body is not valid JSON: {error}") from None
        records = document.get("records") if isinstance(document, dict) else None
        if not isinstance(records, list):
            raise ValidationFailed.of_field("records", 'is required: the body is {"records": [<record>, ...]}')
        return await self.ingest(caller, records, Source.HTTP)

    async def ingest_stream(
        self, caller: Caller, batches: AsyncIterable[Sequence[object]], source: Source = Source.GRPC
    ) -> BatchResult:
        """A client stream, ingested batch by batch as it arrives; failures are indexed from the stream's start."""
        caller.require(Role.OPERATOR, "send telemetry")
        total = BatchResult()
        offset = 0
        async for batch in batches:
            result = await self.ingest(caller, batch, source)
            total.accepted += result.accepted
            total.stored_datapoints += result.stored_datapoints
            total.rejections.extend(Rejection(r.index + offset, r.reason, r.message) for r in result.rejections)
            offset += len(batch)
        return total

    async def history(self, caller: Caller, request: HistoryRequest) -> History:
        device = await self._visible_device(caller, request.device_id)
        plan = plan_history(request, device, self._types.get(device.device_type), self._now_ms())
        counting = count_query(plan)
        if counting is not None:
            check_point_count(await self._store.query(counting))
        return shape_history(plan, await self._store.query(plan.query))

    async def dead_letters(
        self,
        caller: Caller,
        *,
        page: int | None,
        page_size: int | None,
        device_id: str | None = None,
        reason: str | None = None,
    ) -> Page[DeadLetter]:
        """Newest first; an admin sees their organization's, a service principal everyone's."""
        caller.require(Role.ADMIN, "list dead letters")
        request = PageRequest.parse(page, page_size)
        return await self._dead_letters.page(
            _scope(caller), request, device_id=device_id or None, reason=parse_reason(reason)
        )

    async def replay(
        self, caller: Caller, *, device_id: str | None = None, reason: str | None = None, limit: int | None = None
    ) -> ReplayOutcome:
        caller.require(Role.ADMIN, "replay dead letters")
        limit = DEFAULT_REPLAY_LIMIT if limit is None else limit
        if not 1 <= limit <= MAX_REPLAY_LIMIT:
            raise ValidationFailed.of_field("limit", f"must be between 1 and {MAX_REPLAY_LIMIT}, got {limit}")
        letters = await self._dead_letters.oldest(
            _scope(caller), limit, device_id=device_id or None, reason=parse_reason(reason)
        )
        replayed = accepted = still_failing = 0
        for start in range(0, len(letters), REPLAY_BATCH):
            outcome = await self._pipeline.replay(letters[start : start + REPLAY_BATCH])
            replayed += outcome.replayed
            accepted += outcome.accepted
            still_failing += outcome.still_failing
        return ReplayOutcome(replayed, accepted, still_failing)

    async def _visible_device(self, caller: Caller, device_id: str) -> DeviceInfo:
        """The caller's organization's live device; any other answer is 404, revealing nothing."""
        device = (await self._directory.lookup([device_id])).get(device_id) if device_id else None
        if device is None or device.deleted or not caller.can_see(device.organization_id):
            raise DeviceNotFound(device_id)
        return device

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)


def parse_reason(reason: str | None) -> RejectReason | None:
    if not reason:
        return None
    try:
        return RejectReason(reason.strip().upper())
    except ValueError:
        allowed = ", ".join(r.value for r in RejectReason)
        raise ValidationFailed.of_field("reason", f"must be one of {allowed}, got {reason!r}") from None


def _scope(caller: Caller) -> str | None:
    return None if caller.is_service else caller.organization_id
