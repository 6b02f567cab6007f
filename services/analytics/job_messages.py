"""Jobs ↔ iot.analytics.v1 Report and Export messages (the servicer's answers and the bus events)."""

from __future__ import annotations

from google.protobuf import struct_pb2, timestamp_pb2
from iot.analytics.v1 import analytics_pb2

from services.analytics.domain.jobs import Job


def report_message(job: Job, download_url: str | None = None) -> analytics_pb2.Report:
    parameters = struct_pb2.Struct()
    parameters.update(job.parameters)
    report = analytics_pb2.Report(
        report_id=job.job_id,
        report_type=job.report_type,
        format=job.format,
        status=job.status.value,
        parameters=parameters,
        created_at=_timestamp(job.created_at_ms),
        estimated_completion_time=_timestamp(job.estimated_completion_ms),
    )
    if job.completed_at_ms is not None:
        report.completed_at.CopyFrom(_timestamp(job.completed_at_ms))
    if download_url is not None:
        report.download_url = download_url
    if job.error is not None:
        report.error = job.error
    return report


def export_message(job: Job, download_url: str | None = None) -> analytics_pb2.Export:
    export = analytics_pb2.Export(
        export_id=job.job_id, format=job.format, status=job.status.value, created_at=_timestamp(job.created_at_ms)
    )
    if job.completed_at_ms is not None:
        export.completed_at.CopyFrom(_timestamp(job.completed_at_ms))
    if job.rows is not None:
        export.rows = float(job.rows)
    if job.size is not None:
        export.size = float(job.size)
    if download_url is not None:
        export.download_url = download_url
    if job.error is not None:
        export.error = job.error
    return export


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)
