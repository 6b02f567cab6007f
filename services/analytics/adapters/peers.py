"""The analytics service's gRPC clients of the device, alerting and telemetry services.

Devices, ownership and telemetry are asked with the analytics service's own token (internal RPCs, and
ListDevices with an explicit organization). Alerts are asked with the dashboard reader's token: the alerting
service lists one organization's alerts only to its users (no internal count RPC exists).
"""

from __future__ import annotations

from collections.abc import Collection

import grpc.aio
from google.protobuf import timestamp_pb2
from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from iot.device.v1 import device_pb2, device_pb2_grpc
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from services.analytics.domain.facts import DELETED, DEVICE_STATUSES, SEVERITIES
from services.analytics.domain.query import QueryPlan, SeriesData
from services.runtime.clients import unavailable_when_unreachable

PAGE = 100  # the largest page the list RPCs give
BATCH_GET = 500
ACTIVE_ALERT_STATUSES = ("triggered", "acknowledged")


class GrpcDeviceCensus:
    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float = 10.0):
        self._stub = device_pb2_grpc.DeviceServiceStub(channel)
        self._timeout = timeout_seconds

    async def counts(self, organization_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in DEVICE_STATUSES:
            request = device_pb2.ListDevicesRequest(organization_id=organization_id, status=status, page_size=1)
            with unavailable_when_unreachable("the device service did not answer"):
                reply = await self._stub.ListDevices(request, timeout=self._timeout)
            counts[status] = reply.pagination.total_items
        return counts

    async def statuses(self, organization_id: str) -> dict[str, str]:
        found: dict[str, str] = {}
        page = 1
        while True:
            request = device_pb2.ListDevicesRequest(
                organization_id=organization_id, page=page, page_size=PAGE, sort_by="name"
            )
            with unavailable_when_unreachable("the device service did not answer"):
                reply = await self._stub.ListDevices(request, timeout=self._timeout)
            found.update({d.device_id: d.status for d in reply.items})
            if not reply.pagination.has_next:
                return found
            page += 1


class GrpcDeviceOwnership:
    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float = 5.0):
        self._stub = device_pb2_grpc.DeviceServiceStub(channel)
        self._timeout = timeout_seconds

    async def owned(self, organization_id: str, device_ids: Collection[str]) -> set[str]:
        wanted = list(dict.fromkeys(device_ids))
        owned: set[str] = set()
        for start in range(0, len(wanted), BATCH_GET):
            request = device_pb2.BatchGetDevicesRequest(device_ids=wanted[start : start + BATCH_GET])
            with unavailable_when_unreachable("the device service did not answer"):
                reply = await self._stub.BatchGetDevices(request, timeout=self._timeout)
            owned.update(
                d.device_id for d in reply.devices if d.organization_id == organization_id and d.status != DELETED
            )
        return owned


class GrpcAlertCensus:
    """Over a channel carrying the caller's token (the organization is the caller's)."""

    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float = 10.0):
        self._stub = alerting_pb2_grpc.AlertingServiceStub(channel)
        self._timeout = timeout_seconds

    async def counts(self, organization_id: str) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        for status in ACTIVE_ALERT_STATUSES:
            for severity in SEVERITIES:
                request = alerting_pb2.ListAlertsRequest(status=status, severity=severity, page_size=1)
                with unavailable_when_unreachable("the alerting service did not answer"):
                    reply = await self._stub.ListAlerts(request, timeout=self._timeout)
                counts[severity] += reply.pagination.total_items
        return counts

    async def active(self, organization_id: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for status in ACTIVE_ALERT_STATUSES:
            page = 1
            while True:
                request = alerting_pb2.ListAlertsRequest(status=status, page=page, page_size=PAGE)
                with unavailable_when_unreachable("the alerting service did not answer"):
                    reply = await self._stub.ListAlerts(request, timeout=self._timeout)
                found.update({a.alert_id: a.severity for a in reply.items if a.organization_id == organization_id})
                if not reply.pagination.has_next:
                    break
                page += 1
        return found


class GrpcTelemetry:
    """SeriesSource and DatapointCounts: telemetry's internal RPCs, computed by its time-series store."""

    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float = 30.0):
        self._stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
        self._timeout = timeout_seconds

    async def aggregate(self, organization_id: str, plan: QueryPlan) -> list[SeriesData]:
        request = telemetry_pb2.AggregateSeriesRequest(
            organization_id=organization_id,
            device_ids=plan.device_ids,
            metrics=plan.metrics,
            start_time=_timestamp(plan.start_ms),
            end_time=_timestamp(plan.end_ms),
            bucket_seconds=plan.bucket_ms // 1000,
            function=plan.function,
        )
        with unavailable_when_unreachable("the telemetry service did not answer"):
            reply = await self._stub.AggregateSeries(request, timeout=self._timeout)
        return [
            SeriesData(s.device_id, s.metric, list(zip(s.timestamps_ms, s.values, strict=True))) for s in reply.series
        ]

    async def daily(self, organization_id: str, start_ms: int, end_ms: int) -> dict[str, int]:
        request = telemetry_pb2.CountDailyDatapointsRequest(
            organization_id=organization_id, start_time=_timestamp(start_ms), end_time=_timestamp(end_ms)
        )
        with unavailable_when_unreachable("the telemetry service did not answer"):
            reply = await self._stub.CountDailyDatapoints(request, timeout=self._timeout)
        return {d.day: d.datapoints for d in reply.days}


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)
