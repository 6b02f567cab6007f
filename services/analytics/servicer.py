"""iot.analytics.v1.AnalyticsService over gRPC: messages ↔ use cases. Reports, exports and usage are not built
yet (issue #7): they answer UNIMPLEMENTED (NOT_IMPLEMENTED), which the gateway shows as 501."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
from google.protobuf import timestamp_pb2
from iot.analytics.v1 import analytics_pb2, analytics_pb2_grpc

from services.analytics.domain.query import QueryRequest, QueryResult
from services.analytics.domain.service import AnalyticsService
from services.runtime.context import current_caller
from services.runtime.service import NotImplementedYet

Context = grpc.aio.ServicerContext[Any, Any]


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, service: AnalyticsService):
        self._service = service

    async def GetDashboardStats(
        self, request: analytics_pb2.GetDashboardStatsRequest, context: Context
    ) -> analytics_pb2.GetDashboardStatsResponse:
        stats = await self._service.dashboard(current_caller())
        d, a = stats.devices, stats.alerts
        return analytics_pb2.GetDashboardStatsResponse(
            devices=analytics_pb2.DeviceCounts(
                total=d.total, online=d.online, offline=d.offline, maintenance=d.maintenance
            ),
            alerts=analytics_pb2.AlertCounts(active=a.active, critical=a.critical, warning=a.warning, info=a.info),
            data_volume=analytics_pb2.DataVolume(today=stats.volume_today, this_month=stats.volume_month),
            trends=analytics_pb2.Trends(
                devices_online=stats.devices_online_trend, active_alerts=stats.active_alerts_trend
            ),
        )

    async def QuerySensorData(
        self, request: analytics_pb2.QuerySensorDataRequest, context: Context
    ) -> analytics_pb2.QuerySensorDataResponse:
        query = QueryRequest(
            device_ids=tuple(request.device_ids),
            metrics=tuple(request.metrics),
            start_ms=_millis(request.start_time) if request.HasField("start_time") else None,
            end_ms=_millis(request.end_time) if request.HasField("end_time") else None,
            interval=request.aggregation.interval,
            function=request.aggregation.function,
        )
        return _query_response(await self._service.query(current_caller(), query))

    async def GenerateReport(self, request: Any, context: Context) -> Any:
        raise _not_yet("GenerateReport")

    async def GetReport(self, request: Any, context: Context) -> Any:
        raise _not_yet("GetReport")

    async def ExportData(self, request: Any, context: Context) -> Any:
        raise _not_yet("ExportData")

    async def GetExport(self, request: Any, context: Context) -> Any:
        raise _not_yet("GetExport")

    async def GetUsageReport(self, request: Any, context: Context) -> Any:
        raise _not_yet("GetUsageReport")

    async def RunUsageReports(self, request: Any, context: Context) -> AsyncIterator[Any]:
        raise _not_yet("RunUsageReports")
        yield  # a server-streaming RPC is an async generator


def _query_response(result: QueryResult) -> analytics_pb2.QuerySensorDataResponse:
    plan = result.plan
    response = analytics_pb2.QuerySensorDataResponse(
        start_time=_timestamp(plan.start_ms),
        end_time=_timestamp(plan.end_ms),
        aggregation=analytics_pb2.Aggregation(interval=plan.interval, function=plan.function),
    )
    for series in result.series:
        message = response.series.add(device_id=series.device_id, metric=series.metric)
        for at_ms, value in series.points:
            message.points.add(timestamp=_timestamp(at_ms), value=value)
    return response


def _not_yet(method: str) -> NotImplementedYet:
    name = f"iot.analytics.v1.AnalyticsService.{method}"
    return NotImplementedYet(f"{name} is not implemented yet", details={"method": name})


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)


def _millis(stamp: timestamp_pb2.Timestamp) -> int:
    return stamp.seconds * 1000 + stamp.nanos // 1_000_000
