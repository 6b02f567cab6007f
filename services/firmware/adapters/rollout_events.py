"""RolloutEvents on the event bus: firmware.job_status_changed and firmware.deployment_changed.

Device (firmwareVersion on SUCCEEDED), alerting (an alert on halt), notification and the WebSocket hub
consume them. Job events are keyed by device so a partitioned consumer sees one device's jobs in order.
"""

from __future__ import annotations

from iot.firmware.v1 import events_pb2

from services.firmware.domain.rollout.execution import Job
from services.firmware.domain.rollout.progress import DeploymentView
from services.firmware.rollout_messages import deployment_to_proto, timestamp
from services.runtime.bus import EventPublisher, event_meta

JOB_STATUS_CHANGED = "firmware.job_status_changed"
DEPLOYMENT_CHANGED = "firmware.deployment_changed"


class BusRolloutEvents:
    def __init__(self, bus: EventPublisher):
        self._bus = bus

    async def job_status_changed(self, job: Job) -> None:
        event = events_pb2.JobStatusChanged(
            meta=event_meta(job.org_id),
            job_id=job.job_id,
            deployment_id=job.deployment_id,
            device_id=job.device_id,
            status=job.status.value,
            reported_at=timestamp(job.updated_at),
            firmware_version=job.image.version,
            operation=job.operation.value,
            status_details=dict(job.status_details),
        )
        await self._bus.publish(JOB_STATUS_CHANGED, event, partition_key=job.device_id)

    async def deployment_changed(self, view: DeploymentView) -> None:
        deployment = view.deployment
        event = events_pb2.DeploymentChanged(meta=event_meta(deployment.org_id), deployment=deployment_to_proto(view))
        await self._bus.publish(DEPLOYMENT_CHANGED, event, partition_key=deployment.deployment_id)
