"""Rollout values ↔ iot.firmware.v1 messages, shared by the edges that speak the contract: the gRPC servicer
(deployments, jobs, device reports over HTTP) and the bus adapter (JobStatusChanged, DeploymentChanged carry
the same Deployment message)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from iot.firmware.v1 import firmware_pb2

from services.firmware.domain.rollout.commands import CreateDeployment, ListDeployments, ListJobs, UpdateJob
from services.firmware.domain.rollout.deployment import ScheduleType
from services.firmware.domain.rollout.execution import Job
from services.firmware.domain.rollout.progress import DeploymentView


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def _timestamp_or_none(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    return timestamp(value) if value is not None else None


def deployment_to_proto(view: DeploymentView) -> firmware_pb2.Deployment:
    """The §3.4.5 shape; absent times stay unset so that JSON leaves them out."""
    d, p = view.deployment, view.progress
    return firmware_pb2.Deployment(
        deployment_id=d.deployment_id,
        firmware_id=d.firmware_id,
        firmware_version=d.firmware_version,
        strategy=d.strategy.value,
        status=d.status.value,
        progress=firmware_pb2.DeploymentProgress(
            total=p.total, succeeded=p.succeeded, failed=p.failed, in_progress=p.in_progress, pending=p.pending
        ),
        batches=[
            firmware_pb2.DeploymentBatch(
                batch_id=b.batch_id, devices=b.devices, status=b.status.value, success_rate=b.success_rate
            )
            for b in view.batches
        ],
        started_at=_timestamp_or_none(d.started_at),
        created_at=timestamp(d.created_at),
        completed_at=_timestamp_or_none(d.completed_at),
        halt_reason=d.halt_reason,
        success_threshold=d.success_threshold,
        job_timeout_seconds=d.job_timeout_seconds,
        max_retries=d.max_retries,
        scheduled_start=_timestamp_or_none(d.scheduled_start if d.schedule_type is ScheduleType.SCHEDULED else None),
        created_by=d.created_by,
    )


def job_to_proto(job: Job, download_url: str) -> firmware_pb2.JobExecution:
    return firmware_pb2.JobExecution(
        job_id=job.job_id,
        deployment_id=job.deployment_id,
        device_id=job.device_id,
        batch_id=job.batch_id,
        firmware_id=job.image.firmware_id,
        firmware_version=job.image.version,
        operation=job.operation.value,
        status=job.status.value,
        status_details=dict(job.status_details),
        attempt=job.attempt,
        version_number=job.version_number,
        download_url=download_url,
        checksum=job.image.checksum,
        size=float(job.image.size),
        previous_version=job.previous_version,
        queued_at=timestamp(job.queued_at),
        updated_at=timestamp(job.updated_at),
    )


def create_command(request: firmware_pb2.CreateDeploymentRequest) -> CreateDeployment:
    schedule = request.schedule
    has_schedule = request.HasField("schedule")
    start = schedule.start_time.ToDatetime(UTC) if has_schedule and schedule.HasField("start_time") else None
    return CreateDeployment(
        firmware_id=request.firmware_id,
        target_devices=list(request.target_devices),
        strategy=request.strategy,
        batch_size=request.batch_size,
        schedule_type=schedule.type if has_schedule and schedule.type else None,
        start_time=start,
        success_threshold=request.success_threshold if request.HasField("success_threshold") else None,
        job_timeout_seconds=request.job_timeout_seconds if request.HasField("job_timeout_seconds") else None,
        max_retries=request.max_retries if request.HasField("max_retries") else None,
    )


def list_command(request: firmware_pb2.ListDeploymentsRequest) -> ListDeployments:
    return ListDeployments(
        status=request.status if request.HasField("status") else None,
        firmware_id=request.firmware_id if request.HasField("firmware_id") else None,
        page=request.page if request.HasField("page") else None,
        page_size=request.page_size if request.HasField("page_size") else None,
    )


def jobs_command(request: firmware_pb2.ListDeploymentJobsRequest) -> ListJobs:
    return ListJobs(
        deployment_id=request.deployment_id,
        status=request.status if request.HasField("status") else None,
        batch_id=request.batch_id if request.HasField("batch_id") else None,
        page=request.page if request.HasField("page") else None,
        page_size=request.page_size if request.HasField("page_size") else None,
    )


def update_command(request: firmware_pb2.UpdateJobExecutionRequest) -> UpdateJob:
    return UpdateJob(
        device_id=request.device_id,
        job_id=request.job_id,
        status=request.status,
        status_details=dict(request.status_details),
        expected_version=request.expected_version if request.HasField("expected_version") else None,
    )
