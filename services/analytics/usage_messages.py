"""A usage report as iot.analytics.v1.GetUsageReportResponse (the endpoint's body and the event's payload)."""

from __future__ import annotations

from iot.analytics.v1 import analytics_pb2

from services.analytics.domain.usage import UsageReport


def usage_message(report: UsageReport) -> analytics_pb2.GetUsageReportResponse:
    u = report.usage
    return analytics_pb2.GetUsageReportResponse(
        organization_id=u.organization_id,
        month=u.month,
        data_volume=float(u.data_bytes),
        messages=float(u.messages),
        devices=u.devices,
        api_calls=float(u.api_calls),
        estimated_cost=report.estimated_cost,
        currency=report.currency,
    )
