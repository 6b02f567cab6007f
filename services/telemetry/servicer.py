"""iot.telemetry.v1.TelemetryService over gRPC: converts messages to use-case calls and results back.

Errors are DomainErrors raised by the use cases; the runtime's interceptor turns them into status codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import grpc.aio
from iot.common.v1 import jobs_pb2
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from services.runtime.context import current_caller
from services.runtime.messages import pagination_message
from services.runtime.service import NotImplementedYet
from services.telemetry.aggregate_messages import aggregate_request, aggregated_series_message, daily_counts_message
from services.telemetry.archival import JobStep, ReadingsArchival
from services.telemetry.domain.aggregates import StoreAggregates
from services.telemetry.domain.exports import StoreExports
from services.telemetry.domain.history import HistoryRequest
from services.telemetry.domain.model import Source
from services.telemetry.domain.service import TelemetryService
from services.telemetry.export_messages import export_request, readings_batch
from services.telemetry.messages import (
    dead_letter_message,
    device_type_message,
    failures,
    history_message,
    millis,
    record_payload,
)

Context = grpc.aio.ServicerContext[Any, Any]
# Records of a client stream are handed to the pipeline this many at a time.
STREAM_BATCH = 500


class TelemetryServicer(telemetry_pb2_grpc.TelemetryServiceServicer):
    def __init__(
        self,
        service: TelemetryService,
        aggregates: StoreAggregates | None = None,
        archival: ReadingsArchival | None = None,
        *,
        exports: StoreExports | None = None,
    ):
        self._service = service
        self._aggregates = aggregates
        self._exports = exports
        self._archival = archival

    async def IngestTelemetry(
        self, request: telemetry_pb2.IngestTelemetryRequest, context: Context
    ) -> telemetry_pb2.IngestTelemetryResponse:
        if request.HasField("payload"):
            result = await self._service.ingest_document(current_caller(), request.payload.data)
        else:
            records = [record_payload(r) for r in request.records]
            result = await self._service.ingest(current_caller(), records, Source.GRPC)
        return telemetry_pb2.IngestTelemetryResponse(accepted=result.accepted, failed=failures(result))

    async def StreamTelemetry(
        self, request_iterator: AsyncIterator[telemetry_pb2.StreamTelemetryRequest], context: Context
    ) -> telemetry_pb2.StreamTelemetryResponse:
        result = await self._service.ingest_stream(current_caller(), _batches(request_iterator))
        return telemetry_pb2.StreamTelemetryResponse(accepted=result.accepted, failed=failures(result))

    async def GetDeviceHistory(
        self, request: telemetry_pb2.GetDeviceHistoryRequest, context: Context
    ) -> telemetry_pb2.GetDeviceHistoryResponse:
        query = HistoryRequest(
            device_id=request.device_id,
            start_ms=millis(request.start_date) if request.HasField("start_date") else None,
            end_ms=millis(request.end_date) if request.HasField("end_date") else None,
            metrics=tuple(request.metrics),
            aggregation=request.aggregation if request.HasField("aggregation") else None,
        )
        return history_message(await self._service.history(current_caller(), query))

    async def ListDeviceTypes(
        self, request: telemetry_pb2.ListDeviceTypesRequest, context: Context
    ) -> telemetry_pb2.ListDeviceTypesResponse:
        types = await self._service.device_types(current_caller())
        return telemetry_pb2.ListDeviceTypesResponse(items=[device_type_message(t) for t in types])

    async def GetDeviceType(
        self, request: telemetry_pb2.GetDeviceTypeRequest, context: Context
    ) -> telemetry_pb2.GetDeviceTypeResponse:
        found = await self._service.device_type(current_caller(), request.name)
        return telemetry_pb2.GetDeviceTypeResponse(device_type=device_type_message(found))

    async def ListDeadLetters(
        self, request: telemetry_pb2.ListDeadLettersRequest, context: Context
    ) -> telemetry_pb2.ListDeadLettersResponse:
        has = request.HasField
        page = await self._service.dead_letters(
            current_caller(),
            page=request.page if has("page") else None,
            page_size=request.page_size if has("page_size") else None,
            device_id=request.device_id if has("device_id") else None,
            reason=request.reason if has("reason") else None,
        )
        return telemetry_pb2.ListDeadLettersResponse(
            items=[dead_letter_message(letter) for letter in page.items], pagination=pagination_message(page)
        )

    async def ReplayDeadLetters(
        self, request: telemetry_pb2.ReplayDeadLettersRequest, context: Context
    ) -> telemetry_pb2.ReplayDeadLettersResponse:
        has = request.HasField
        outcome = await self._service.replay(
            current_caller(),
            device_id=request.device_id if has("device_id") else None,
            reason=request.reason if has("reason") else None,
            limit=request.limit if has("limit") else None,
        )
        return telemetry_pb2.ReplayDeadLettersResponse(
            replayed=outcome.replayed, accepted=outcome.accepted, still_failing=outcome.still_failing
        )

    async def AggregateSeries(
        self, request: telemetry_pb2.AggregateSeriesRequest, context: Context
    ) -> telemetry_pb2.AggregateSeriesResponse:
        points = await self._internal().aggregate(current_caller(), aggregate_request(request))
        return aggregated_series_message(points)

    async def CountDailyDatapoints(
        self, request: telemetry_pb2.CountDailyDatapointsRequest, context: Context
    ) -> telemetry_pb2.CountDailyDatapointsResponse:
        days = await self._internal().daily_counts(
            current_caller(), request.organization_id, millis(request.start_time), millis(request.end_time)
        )
        return daily_counts_message(days)

    async def ArchiveReadings(
        self, request: telemetry_pb2.ArchiveReadingsRequest, context: Context
    ) -> AsyncIterator[telemetry_pb2.ArchiveReadingsResponse]:
        if self._archival is None:
            raise NotImplementedYet("archival is not served by this telemetry instance")
        retention = request.retention_days if request.HasField("retention_days") else None
        async for step in self._archival.run(retention):
            yield telemetry_pb2.ArchiveReadingsResponse(progress=_progress(step))

    async def StreamReadings(
        self, request: telemetry_pb2.StreamReadingsRequest, context: Context
    ) -> AsyncIterator[telemetry_pb2.StreamReadingsResponse]:
        if self._exports is None:
            raise NotImplementedYet("exports are not served by this telemetry instance")
        async for batch in self._exports.stream(current_caller(), export_request(request)):
            yield readings_batch(batch)

    def _internal(self) -> StoreAggregates:
        if self._aggregates is None:
            raise NotImplementedYet("aggregates are not served by this telemetry instance")
        return self._aggregates


def _progress(step: JobStep) -> jobs_pb2.JobProgress:
    return jobs_pb2.JobProgress(
        stage=step.stage, done=step.done, total=step.total, counters=step.counters, finished=step.finished
    )


async def _batches(
    requests: AsyncIterable[telemetry_pb2.StreamTelemetryRequest],
) -> AsyncIterator[list[dict[str, Any]]]:
    """The stream's records as §4.1 records, STREAM_BATCH at a time, whatever the records per message."""
    batch: list[dict[str, Any]] = []
    async for request in requests:
        if request.HasField("record"):
            batch.append(record_payload(request.record))
        if request.records:
            batch.extend(record_payload(r) for r in request.records)
        while len(batch) >= STREAM_BATCH:
            yield batch[:STREAM_BATCH]
            batch = batch[STREAM_BATCH:]
    if batch:
        yield batch
