"""Jobs on the bus: a request publishes analytics.report_requested / analytics.export_requested; workers consume
them in groups "analytics-reports" and "analytics-exports", so the replicas share the work (each event goes to
one of them) and the store's claim makes a redelivery harmless."""

from __future__ import annotations

import logging

from iot.analytics.v1 import events_pb2

from services.analytics.domain.jobs import Job, JobKind
from services.analytics.domain.jobs_service import ReportsAndExports
from services.analytics.job_messages import export_message, report_message
from services.runtime.bus import EventBus, EventPublisher, event_meta

log = logging.getLogger("iotmon.analytics")

REPORT_REQUESTED = "analytics.report_requested"
EXPORT_REQUESTED = "analytics.export_requested"
REPORTS_GROUP = "analytics-reports"
EXPORTS_GROUP = "analytics-exports"


class BusJobQueue:
    def __init__(self, bus: EventPublisher):
        self._bus = bus

    async def report_requested(self, job: Job) -> None:
        event = events_pb2.ReportRequested(
            meta=event_meta(job.organization_id, job.requested_by), report=report_message(job)
        )
        await self._bus.publish(REPORT_REQUESTED, event)

    async def export_requested(self, job: Job) -> None:
        event = events_pb2.ExportRequested(
            meta=event_meta(job.organization_id, job.requested_by), export=export_message(job)
        )
        await self._bus.publish(EXPORT_REQUESTED, event)


def subscribe_workers(bus: EventBus, jobs: ReportsAndExports) -> None:
    async def on_report(routing_key: str, payload: bytes) -> None:
        await jobs.build(JobKind.REPORT, events_pb2.ReportRequested.FromString(payload).report.report_id)

    async def on_export(routing_key: str, payload: bytes) -> None:
        await jobs.build(JobKind.EXPORT, events_pb2.ExportRequested.FromString(payload).export.export_id)

    bus.subscribe(REPORT_REQUESTED, on_report, group=REPORTS_GROUP)
    bus.subscribe(EXPORT_REQUESTED, on_export, group=EXPORTS_GROUP)
