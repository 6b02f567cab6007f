"""iot.analytics.v1.AnalyticsService over gRPC: messages ↔ use cases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
from google.protobuf import json_format, timestamp_pb2
from iot.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from iot.common.v1 import jobs_pb2

from services.analytics.domain.jobs import JobKind
from services.analytics.domain.jobs_service import ReportsAndExports
from services.analytics.domain.query import QueryRequest, QueryResult
from services.analytics.domain.service import AnalyticsService
from services.analytics.domain.usage_service import UsageReports
from services.analytics.job_messages import export_message, report_message
from services.analytics.usage_messages import usage_message
from services.kernel.caller import Role
from services.runtime.context import current_caller
from services.runtime.service import NotImplementedYet

Context = grpc.aio.ServicerContext[Any, Any]


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(
        self, service: AnalyticsService, *, jobs: ReportsAndExports | None = None, usage: UsageReports | None = None
    ):
        self._service = service
        self._reports_and_exports = jobs
        self._usage = usage

    def _jobs(self) -> ReportsAndExports:
        if self._reports_and_exports is None:
            raise NotImplementedYet("reports and exports are not served by this analytics instance")
        return self._reports_and_exports

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

    async def GenerateReport(
        self, request: analytics_pb2.GenerateReportRequest, context: Context
    ) -> analytics_pb2.GenerateReportResponse:
        parameters = json_format.MessageToDict(request.parameters) if request.HasField("parameters") else {}
        job = await self._jobs().request_report(current_caller(), request.report_type, parameters, request.format)
        return analytics_pb2.GenerateReportResponse(
            report_id=job.job_id,
            status=job.status.value,
            estimated_completion_time=_timestamp(job.estimated_completion_ms),
        )

    async def GetReport(
        self, request: analytics_pb2.GetReportRequest, context: Context
    ) -> analytics_pb2.GetReportResponse:
        job, url = await self._jobs().get(current_caller(), JobKind.REPORT, request.report_id)
        return analytics_pb2.GetReportResponse(report=report_message(job, url))

    async def ExportData(
        self, request: analytics_pb2.ExportDataRequest, context: Context
    ) -> analytics_pb2.ExportDataResponse:
        job = await self._jobs().request_export(
            current_caller(),
            tuple(request.device_ids),
            tuple(request.metrics),
            _millis(request.start_time) if request.HasField("start_time") else None,
            _millis(request.end_time) if request.HasField("end_time") else None,
            request.format,
        )
        return analytics_pb2.ExportDataResponse(export=export_message(job))

    async def GetExport(
        self, request: analytics_pb2.GetExportRequest, context: Context
    ) -> analytics_pb2.GetExportResponse:
        job, url = await self._jobs().get(current_caller(), JobKind.EXPORT, request.export_id)
        return analytics_pb2.GetExportResponse(export=export_message(job, url))

    def _usage_reports(self) -> UsageReports:
        if self._usage is None:
            raise _not_yet("usage reports")
        return self._usage

    async def GetUsageReport(
        self, request: analytics_pb2.GetUsageReportRequest, context: Context
    ) -> analytics_pb2.GetUsageReportResponse:
        month = request.month if request.HasField("month") else None
        return usage_message(await self._usage_reports().get(current_caller(), month))

    async def RunUsageReports(
        self, request: analytics_pb2.RunUsageReportsRequest, context: Context
    ) -> AsyncIterator[analytics_pb2.RunUsageReportsResponse]:
        current_caller().require(Role.ADMIN, "run the usage reports")
        month = request.month if request.HasField("month") else None
        async for step in self._usage_reports().run(month):
            yield analytics_pb2.RunUsageReportsResponse(
                progress=jobs_pb2.JobProgress(
                    stage=step.stage, done=step.done, total=step.total, counters=step.counters, finished=step.finished
                )
            )


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
