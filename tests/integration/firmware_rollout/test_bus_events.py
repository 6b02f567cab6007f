"""The rollout's events on the (in-process) bus, as the device, alerting and notification services read them,
and the request conversions the servicer uses."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf import json_format
from iot.firmware.v1 import events_pb2, firmware_pb2

from services.firmware.adapters.rollout_events import (
    DEPLOYMENT_CHANGED,
    JOB_STATUS_CHANGED,
    BusRolloutEvents,
)
from services.firmware.domain.rollout.deployment import DeploymentStatus, InstallOutcome
from services.firmware.domain.rollout.job import JobOperation, JobStatus
from services.firmware.domain.rollout.progress import JobCount, view
from services.firmware.rollout_messages import create_command, job_to_proto, update_command
from services.runtime.bus import InProcessBus
from tests.unit.firmware_rollout.builders import a_deployment, a_job
from tests.unit.firmware_rollout.fakes import ORG, T0


async def test_job_and_deployment_events_carry_what_consumers_read() -> None:
    bus = InProcessBus()
    received: dict[str, list[bytes]] = {JOB_STATUS_CHANGED: [], DEPLOYMENT_CHANGED: []}

    async def record(routing_key: str, payload: bytes) -> None:
        received[routing_key].append(payload)

    bus.subscribe("firmware.*", record, group="test")
    await bus.start()
    events = BusRolloutEvents(bus)
    deployment = a_deployment(
        status=DeploymentStatus.HALTED,
        install_outcome=InstallOutcome.HALTED,
        current_batch=2,
        halt_reason="batch 2: 7/10 succeeded (70%) < 95%",
        completed_at=T0 + timedelta(hours=1),
    )
    job = a_job(deployment, status=JobStatus.SUCCEEDED, updated_at=T0 + timedelta(minutes=3), status_details={"a": "b"})
    counts = [
        JobCount(1, JobOperation.INSTALL, JobStatus.SUCCEEDED, 1, 10),
        JobCount(2, JobOperation.INSTALL, JobStatus.SUCCEEDED, 1, 7),
        JobCount(2, JobOperation.INSTALL, JobStatus.FAILED, 2, 3),
    ]

    await events.job_status_changed(job)
    await events.deployment_changed(view(deployment, counts))
    await bus.close()

    (job_payload,) = received[JOB_STATUS_CHANGED]
    changed = events_pb2.JobStatusChanged.FromString(job_payload)
    assert (changed.job_id, changed.device_id, changed.status, changed.firmware_version, changed.operation) == (
        job.job_id,
        "dev-000",
        "SUCCEEDED",
        "v2.1.0",
        "install",
    )
    assert changed.reported_at.ToDatetime().replace(tzinfo=T0.tzinfo) == T0 + timedelta(minutes=3)
    assert dict(changed.status_details) == {"a": "b"}
    assert changed.meta.organization_id == ORG
    assert changed.meta.event_id

    (deployment_payload,) = received[DEPLOYMENT_CHANGED]
    dep = events_pb2.DeploymentChanged.FromString(deployment_payload).deployment
    shown = json_format.MessageToDict(dep, always_print_fields_with_no_presence=True)
    assert shown["status"] == "halted"
    assert shown["haltReason"] == "batch 2: 7/10 succeeded (70%) < 95%"
    assert shown["progress"] == {"total": 30, "succeeded": 17, "failed": 3, "inProgress": 0, "pending": 10}
    assert shown["batches"] == [
        {"batchId": 1, "devices": 10, "status": "completed", "successRate": 100.0},
        {"batchId": 2, "devices": 10, "status": "failed", "successRate": 70.0},
        {"batchId": 3, "devices": 10, "status": "cancelled", "successRate": 0.0},
    ]
    assert shown["startedAt"] == "2025-11-15T14:00:00Z"
    assert "scheduledStart" not in shown, "an immediate deployment has no scheduled start"


def test_a_job_execution_and_the_request_conversions() -> None:
    deployment = a_deployment()
    execution = job_to_proto(a_job(deployment), "https://downloads.example/x")
    assert (execution.download_url, execution.size, execution.previous_version, execution.attempt) == (
        "https://downloads.example/x",
        1024.0,
        "v2.0.0",
        1,
    )

    request = firmware_pb2.CreateDeploymentRequest(
        firmware_id="fw-1",
        target_devices=["dev-a", "dev-b"],
        strategy="staged",
        batch_size=10,
        schedule=firmware_pb2.DeploymentSchedule(type="scheduled"),
        max_retries=0,
    )
    request.schedule.start_time.FromDatetime(T0)
    command = create_command(request)
    assert (command.schedule_type, command.start_time, command.max_retries, command.success_threshold) == (
        "scheduled",
        T0,
        0,
        None,
    )
    update = update_command(
        firmware_pb2.UpdateJobExecutionRequest(device_id="dev-a", job_id="job-1", status="SUCCEEDED")
    )
    assert update.expected_version is None
