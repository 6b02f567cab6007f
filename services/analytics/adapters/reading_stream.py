"""ReadingStream over telemetry's internal StreamReadings (server streaming): batches arrive as the store
reads them and go on to the file as they come; gRPC flow control keeps a slow writer from piling them up.
The stream has no deadline: an export of millions of rows takes minutes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc.aio
from google.protobuf import timestamp_pb2
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from services.analytics.domain.requests import ExportSpec
from services.analytics.ports import ReadingBatch
from services.runtime.clients import forwarded_metadata, unavailable_when_unreachable
from services.runtime.service_tokens import ServiceTokens


class GrpcReadingStream:
    def __init__(self, channel: grpc.aio.Channel, tokens: ServiceTokens):
        self._stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
        # The channel's interceptors add tokens to unary calls only: a stream carries them itself.
        self._tokens = tokens

    async def batches(self, organization_id: str, spec: ExportSpec) -> AsyncIterator[ReadingBatch]:
        request = telemetry_pb2.StreamReadingsRequest(
            organization_id=organization_id,
            device_ids=list(spec.device_ids),
            metrics=list(spec.metrics),
            start_time=_timestamp(spec.start_ms),
            end_time=_timestamp(spec.end_ms),
        )
        call = self._stub.StreamReadings(request, metadata=forwarded_metadata(self._tokens))
        try:
            with unavailable_when_unreachable("the telemetry service did not answer"):
                async for batch in call:
                    yield ReadingBatch(batch.timestamps_ms, batch.device_ids, batch.metrics, batch.values)
        finally:
            call.cancel()


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)
