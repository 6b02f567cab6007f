"""Domain values ↔ iot.telemetry.v1 messages of the internal aggregate RPCs (analytics is their client)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import groupby

from iot.telemetry.v1 import telemetry_pb2

from services.telemetry.domain.aggregates import AggregateRequest
from services.telemetry.domain.series import DailyCount, SeriesPoint
from services.telemetry.messages import millis


def aggregate_request(request: telemetry_pb2.AggregateSeriesRequest) -> AggregateRequest:
    return AggregateRequest(
        organization_id=request.organization_id,
        device_ids=tuple(request.device_ids),
        metrics=tuple(request.metrics),
        start_ms=millis(request.start_time),
        end_ms=millis(request.end_time),
        bucket_ms=request.bucket_seconds * 1000,
        function=request.function,
    )


def aggregated_series_message(points: Sequence[SeriesPoint]) -> telemetry_pb2.AggregateSeriesResponse:
    """Points ordered by device and metric become one series each, times and values as packed arrays."""
    response = telemetry_pb2.AggregateSeriesResponse()
    for (device_id, metric), group in groupby(points, key=lambda p: (p.device_id, p.metric)):
        members = list(group)
        series = response.series.add(device_id=device_id, metric=metric)
        series.timestamps_ms.extend([p.timestamp_ms for p in members])
        series.values.extend([p.value for p in members])
    return response


def daily_counts_message(days: Sequence[DailyCount]) -> telemetry_pb2.CountDailyDatapointsResponse:
    return telemetry_pb2.CountDailyDatapointsResponse(
        days=[telemetry_pb2.DailyDatapoints(day=_day(d.day_start_ms), datapoints=d.datapoints) for d in days]
    )


def _day(start_ms: int) -> str:
    return datetime.fromtimestamp(start_ms // 1000, UTC).strftime("%Y-%m-%d")
