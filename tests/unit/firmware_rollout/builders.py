"""Deployments and jobs with sensible defaults, for the store contract and the unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from services.firmware.domain.rollout.deployment import (
    Deployment,
    DeploymentStatus,
    FirmwareImage,
    ScheduleType,
    Strategy,
)
from services.firmware.domain.rollout.execution import Job, new_job
from services.firmware.domain.rollout.job import JobOperation
from services.kernel.ids import new_id
from tests.unit.firmware_rollout.fakes import ORG, T0

IMAGE = FirmwareImage("fw-new", "v2.1.0", "firmware/fw-new.bin", "ab" * 32, 1024)


def a_deployment(**changes: Any) -> Deployment:
    deployment = Deployment(
        deployment_id=new_id("dep"),
        org_id=ORG,
        image=IMAGE,
        strategy=Strategy.STAGED,
        batch_size=10,
        target_count=30,
        status=DeploymentStatus.IN_PROGRESS,
        success_threshold=95.0,
        job_timeout_seconds=600,
        max_retries=1,
        schedule_type=ScheduleType.IMMEDIATE,
        scheduled_start=T0,
        created_by="user-op",
        created_at=T0,
        started_at=T0,
        current_batch=1,
    )
    return replace(deployment, **changes)


def a_job(deployment: Deployment, device_id: str = "dev-000", **changes: Any) -> Job:
    job = new_job(
        job_id=new_id("job"),
        deployment_id=deployment.deployment_id,
        org_id=deployment.org_id,
        device_id=device_id,
        batch_id=1,
        operation=JobOperation.INSTALL,
        image=deployment.image,
        previous_version="v2.0.0",
        now=T0 + timedelta(seconds=1),
    )
    return replace(job, **changes)
