"""Domain values ↔ iot.telemetry.v1 messages of the internal StreamReadings RPC (analytics' exports)."""

from __future__ import annotations

from collections.abc import Sequence

from iot.telemetry.v1 import telemetry_pb2

from services.telemetry.domain.exports import ExportRequest
from services.telemetry.domain.series import SeriesPoint
from services.telemetry.messages import millis


def export_request(request: telemetry_pb2.StreamReadingsRequest) -> ExportRequest:
    return ExportRequest(
        organization_id=request.organization_id,
        device_ids=tuple(request.device_ids),
        metrics=tuple(request.metrics),
        start_ms=millis(request.start_time),
        end_ms=millis(request.end_time),
    )


def readings_batch(points: Sequence[SeriesPoint]) -> telemetry_pb2.StreamReadingsResponse:
    """A batch as parallel arrays (extend() on whole lists: far cheaper than a message per datapoint)."""
    batch = telemetry_pb2.StreamReadingsResponse()
    batch.timestamps_ms.extend([p.timestamp_ms for p in points])
    batch.device_ids.extend([p.device_id for p in points])
    batch.metrics.extend([p.metric for p in points])
    batch.values.extend([p.value for p in points])
    return batch
