"""The peers a report reads, over gRPC with the analytics service's own token: devices (BatchGetDevices),
hours with data (telemetry's AggregateSeries, count per hour), alerts (alerting's SummarizeAlerts) and
datapoints per day (telemetry's CountDailyDatapoints)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc.aio
from google.protobuf import timestamp_pb2
from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from iot.device.v1 import device_pb2, device_pb2_grpc
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from services.analytics.domain.documents import AlertCount
from services.analytics.ports import DeviceSnapshot
from services.runtime.clients import unavailable_when_unreachable

HOUR_MS = 3_600_000
DELETED = "deleted"


class GrpcReportSources:
    def __init__(
        self,
        devices: grpc.aio.Channel,
        telemetry: grpc.aio.Channel,
        alerting: grpc.aio.Channel,
        timeout_seconds: float = 60.0,
    ):
        self._devices = device_pb2_grpc.DeviceServiceStub(devices)
        self._telemetry = telemetry_pb2_grpc.TelemetryServiceStub(telemetry)
        self._alerting = alerting_pb2_grpc.AlertingServiceStub(alerting)
        self._timeout = timeout_seconds

    async def devices(self, organization_id: str, device_ids: Sequence[str]) -> list[DeviceSnapshot]:
        request = device_pb2.BatchGetDevicesRequest(device_ids=list(device_ids))
        with unavailable_when_unreachable("the device service did not answer"):
            reply = await self._devices.BatchGetDevices(request, timeout=self._timeout)
        return [
            DeviceSnapshot(
                device_id=d.device_id,
                name=d.name,
                status=d.status,
                registered_at_ms=_millis(d.created_at) if d.HasField("created_at") else None,
                metrics=tuple(sorted(name for name in d.last_reading.fields if name != "timestamp")),
                uptime_24h=d.health.uptime if d.HasField("health") else None,
            )
            for d in reply.devices
            if d.organization_id == organization_id and d.status != DELETED
        ]

    async def hours_with_data(
        self, organization_id: str, device_id: str, metrics: Sequence[str], start_ms: int, end_ms: int
    ) -> set[int]:
        request = telemetry_pb2.AggregateSeriesRequest(
            organization_id=organization_id,
            device_ids=[device_id],
            metrics=list(metrics),
            start_time=_timestamp(start_ms),
            end_time=_timestamp(end_ms),
            bucket_seconds=HOUR_MS // 1000,
            function="count",
        )
        with unavailable_when_unreachable("the telemetry service did not answer"):
            reply = await self._telemetry.AggregateSeries(request, timeout=self._timeout)
        return {
            ms // HOUR_MS
            for series in reply.series
            for ms, count in zip(series.timestamps_ms, series.values, strict=True)
            if count > 0
        }

    async def alert_counts(
        self, organization_id: str, start_ms: int, end_ms: int, device_ids: Sequence[str]
    ) -> list[AlertCount]:
        request = alerting_pb2.SummarizeAlertsRequest(
            organization_id=organization_id,
            start_time=_timestamp(start_ms),
            end_time=_timestamp(end_ms),
            device_ids=list(device_ids),
        )
        with unavailable_when_unreachable("the alerting service did not answer"):
            reply = await self._alerting.SummarizeAlerts(request, timeout=self._timeout)
        return [
            AlertCount(t.day, t.device_id, t.device_name, t.severity, t.status, t.count, t.resolution_seconds)
            for t in reply.tallies
        ]

    async def daily_datapoints(self, organization_id: str, start_ms: int, end_ms: int) -> dict[str, int]:
        request = telemetry_pb2.CountDailyDatapointsRequest(
            organization_id=organization_id, start_time=_timestamp(start_ms), end_time=_timestamp(end_ms)
        )
        with unavailable_when_unreachable("the telemetry service did not answer"):
            reply = await self._telemetry.CountDailyDatapoints(request, timeout=self._timeout)
        return {d.day: d.datapoints for d in reply.days}


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)


def _millis(stamp: timestamp_pb2.Timestamp) -> int:
    return stamp.seconds * 1000 + stamp.nanos // 1_000_000
