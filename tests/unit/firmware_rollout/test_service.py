"""RolloutService use cases: create-deployment validation, permissions, organization scoping, device reports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.firmware.domain.catalog.firmware import FirmwareStatus
from services.firmware.domain.rollout.commands import CreateDeployment, ListDeployments, ListJobs, UpdateJob
from services.firmware.domain.rollout.deployment import BatchStatus, DeploymentStatus
from services.firmware.domain.rollout.job import JobReport, JobStatus
from services.firmware.domain.rollout.targets import TargetDevice
from services.firmware.orchestrator import Orchestrator
from services.firmware.ports import JobHandler
from services.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.unit.firmware_rollout.fakes import OPERATOR, OTHER_ORG, VIEWER, Rig, a_firmware, fleet


def command(**changes: object) -> CreateDeployment:
    fields: dict[str, object] = {
        "firmware_id": "fw-new",
        "target_devices": ["dev-000", "dev-001", "dev-002"],
        "strategy": "staged",
        "batch_size": 2,
    }
    fields.update(changes)
    return CreateDeployment(**fields)  # type: ignore[arg-type]


def fields_of(error: ValidationFailed) -> dict[str, str]:
    return {v.field: v.description for v in error.violations}


async def test_create_returns_the_spec_shape_with_planned_batches() -> None:
    rig = Rig(fleet(5))
    view = await rig.service.create_deployment(OPERATOR, command(target_devices=[f"dev-00{i}" for i in range(5)]))
    d = view.deployment
    assert d.deployment_id.startswith("dep-")
    assert (d.firmware_id, d.firmware_version, d.status, d.created_by) == (
        "fw-new",
        "v2.1.0",
        DeploymentStatus.SCHEDULED,
        "user-op",
    )
    assert (d.success_threshold, d.job_timeout_seconds, d.max_retries) == (95.0, 600, 1)
    assert [(b.batch_id, b.devices, b.status) for b in view.batches] == [
        (1, 2, BatchStatus.PENDING),
        (2, 2, BatchStatus.PENDING),
        (3, 1, BatchStatus.PENDING),
    ]
    assert (view.progress.total, view.progress.pending) == (5, 5)
    assert rig.events.deployments[-1].deployment == d


async def test_all_at_once_is_one_batch_whatever_the_batch_size() -> None:
    rig = Rig(fleet(3))
    view = await rig.service.create_deployment(OPERATOR, command(strategy="all-at-once", batch_size=0))
    assert [(b.batch_id, b.devices) for b in view.batches] == [(1, 3)]


async def test_every_invalid_field_is_named_in_one_400() -> None:
    rig = Rig(fleet(3))
    bad = command(
        firmware_id=" ",
        target_devices=["dev-000", "dev-000", ""],
        strategy="yolo",
        schedule_type="scheduled",
        success_threshold=120,
        job_timeout_seconds=0,
        max_retries=-1,
    )
    with pytest.raises(ValidationFailed) as refused:
        await rig.service.create_deployment(OPERATOR, bad)
    fields = fields_of(refused.value)
    assert set(fields) == {
        "firmwareId",
        "targetDevices",
        "strategy",
        "schedule.startTime",
        "successThreshold",
        "jobTimeoutSeconds",
        "maxRetries",
    }
    assert "dev-000" in " ".join(v.description for v in refused.value.violations if v.field == "targetDevices")


async def test_batch_size_start_time_and_target_limits() -> None:
    rig = Rig(fleet(3))
    with pytest.raises(ValidationFailed) as no_batch:
        await rig.service.create_deployment(OPERATOR, command(batch_size=0))
    assert "batchSize" in fields_of(no_batch.value)
    with pytest.raises(ValidationFailed) as past:
        await rig.service.create_deployment(
            OPERATOR, command(schedule_type="scheduled", start_time=rig.clock.now() - timedelta(seconds=1))
        )
    assert "must be in the future" in fields_of(past.value)["schedule.startTime"]
    with pytest.raises(ValidationFailed) as empty:
        await rig.service.create_deployment(OPERATOR, command(target_devices=[]))
    assert "at least one" in fields_of(empty.value)["targetDevices"]
    with pytest.raises(ValidationFailed) as many:
        await rig.service.create_deployment(OPERATOR, command(target_devices=[f"d{i}" for i in range(10_001)]))
    assert "at most 10000" in fields_of(many.value)["targetDevices"]
    with pytest.raises(ValidationFailed) as kind:
        await rig.service.create_deployment(OPERATOR, command(schedule_type="weekly"))
    assert "schedule.type" in fields_of(kind.value)


async def test_devices_missing_from_the_organization_or_of_an_unsupported_type_are_named() -> None:
    devices = [*fleet(2), TargetDevice("dev-gw", "gateway-v1", "v1", True)]
    rig = Rig(devices)
    with pytest.raises(ValidationFailed) as missing:
        await rig.service.create_deployment(OPERATOR, command(target_devices=["dev-000", "dev-nope", "dev-gone"]))
    assert missing.value.reason == "DEVICES_NOT_FOUND"
    assert "dev-nope, dev-gone" in fields_of(missing.value)["targetDevices"]
    with pytest.raises(ValidationFailed) as unsupported:
        await rig.service.create_deployment(OPERATOR, command(target_devices=["dev-000", "dev-gw"]))
    assert unsupported.value.reason == "INCOMPATIBLE_DEVICES"
    assert "dev-gw (gateway-v1)" in fields_of(unsupported.value)["targetDevices"]
    assert unsupported.value.details["deviceIds"] == "dev-gw"
    # Another organization's firmware is not found (nor would its devices be).
    with pytest.raises(NotFound):
        await rig.service.create_deployment(OTHER_ORG, command())


async def test_only_validated_firmware_of_the_callers_organization_can_be_deployed() -> None:
    rig = Rig(fleet(3), firmware=[a_firmware(status=FirmwareStatus.PROCESSING), a_firmware("fw-x", org_id="org-2")])
    with pytest.raises(Conflict) as not_validated:
        await rig.service.create_deployment(OPERATOR, command())
    assert not_validated.value.reason == "FIRMWARE_NOT_VALIDATED"
    assert not_validated.value.details["status"] == "processing"
    with pytest.raises(NotFound) as not_found:
        await rig.service.create_deployment(OPERATOR, command(firmware_id="fw-x"))
    assert not_found.value.reason == "FIRMWARE_NOT_FOUND"


async def test_viewers_cannot_create_cancel_or_roll_back_and_other_organizations_see_nothing() -> None:
    rig = Rig(fleet(3))
    with pytest.raises(PermissionDenied):
        await rig.service.create_deployment(VIEWER, command())
    dep = await rig.create(["dev-000"], batch_size=1)
    assert (await rig.service.get_deployment(VIEWER, dep)).deployment.deployment_id == dep
    with pytest.raises(PermissionDenied):
        await rig.service.cancel(VIEWER, dep)
    with pytest.raises(PermissionDenied):
        await rig.service.rollback(VIEWER, dep)
    for call in (
        rig.service.get_deployment(OTHER_ORG, dep),
        rig.service.cancel(OTHER_ORG, dep),
        rig.service.list_jobs(OTHER_ORG, ListJobs(dep)),
    ):
        with pytest.raises(NotFound) as hidden:
            await call
        assert hidden.value.reason == "DEPLOYMENT_NOT_FOUND"
    assert (await rig.service.list_deployments(OTHER_ORG, ListDeployments())).items == []
    listed = await rig.service.list_deployments(VIEWER, ListDeployments(status="scheduled"))
    assert [v.deployment.deployment_id for v in listed.items] == [dep]
    with pytest.raises(ValidationFailed):
        await rig.service.list_deployments(VIEWER, ListDeployments(status="exploded"))


async def test_a_scheduled_deployment_cannot_be_rolled_back_but_can_be_cancelled() -> None:
    rig = Rig(fleet(3))
    dep = await rig.create(
        ["dev-000"], batch_size=1, schedule_type="scheduled", start_time=rig.clock.now() + timedelta(hours=1)
    )
    with pytest.raises(Conflict):
        await rig.service.rollback(OPERATOR, dep)
    view = await rig.service.cancel(OPERATOR, dep)
    assert view.deployment.status is DeploymentStatus.CANCELLED
    assert [b.status for b in view.batches] == [BatchStatus.CANCELLED]
    rig.clock.advance(7200)
    assert await rig.service.deployments_to_drive() == []


async def test_reports_are_refused_with_a_reason_and_the_http_fallback_maps_them_to_errors() -> None:
    rig = Rig(fleet(2))
    orch = Orchestrator(rig.service, rig.store, holder="a")  # type: ignore[arg-type]
    dep = await rig.create(["dev-000", "dev-001"], batch_size=2)
    await orch.tick()
    job = (await rig.service.list_jobs(OPERATOR, ListJobs(dep))).items[0]
    now = rig.clock.now()

    wrong_device = await rig.service.on_report(JobReport(job.job_id, "dev-001", JobStatus.SUCCEEDED, now))
    assert (wrong_device.accepted, wrong_device.reason, wrong_device.job) == (False, "JOB_NOT_FOUND", None)
    service_status = await rig.service.on_report(JobReport(job.job_id, job.device_id, JobStatus.TIMED_OUT, now))
    assert service_status.reason == "INVALID_STATUS"
    stale = await rig.service.on_report(
        JobReport(job.job_id, job.device_id, JobStatus.IN_PROGRESS, now, expected_version=7)
    )
    assert (stale.accepted, stale.reason) == (False, "VERSION_MISMATCH")

    pending = await rig.service.pending_jobs(OPERATOR, job.device_id)
    assert ([j.job_id for j in pending.queued], pending.in_progress) == ([job.job_id], [])
    assert (await rig.service.pending_jobs(OTHER_ORG, job.device_id)).queued == []

    updated = await rig.service.update_job(
        OPERATOR, UpdateJob(job.device_id, job.job_id, "in_progress", {"step": "download"}, expected_version=1)
    )
    assert (updated.status, updated.version_number, dict(updated.status_details)) == (
        JobStatus.IN_PROGRESS,
        2,
        {"step": "download"},
    )
    next_job = await rig.service.next_job(job.device_id)
    assert next_job is not None
    assert (next_job.job_id, next_job.status, next_job.version_number) == (job.job_id, JobStatus.IN_PROGRESS, 2)
    with pytest.raises(Conflict) as mismatch:
        await rig.service.update_job(OPERATOR, UpdateJob(job.device_id, job.job_id, "SUCCEEDED", expected_version=1))
    assert mismatch.value.reason == "VERSION_MISMATCH"
    await rig.service.update_job(OPERATOR, UpdateJob(job.device_id, job.job_id, "SUCCEEDED"))
    with pytest.raises(Conflict) as finished:
        await rig.service.update_job(OPERATOR, UpdateJob(job.device_id, job.job_id, "FAILED"))
    assert finished.value.reason == "JOB_ALREADY_FINISHED"
    with pytest.raises(NotFound):
        await rig.service.update_job(OTHER_ORG, UpdateJob(job.device_id, job.job_id, "FAILED"))
    with pytest.raises(ValidationFailed):
        await rig.service.update_job(OPERATOR, UpdateJob(job.device_id, job.job_id, "DONE"))
    with pytest.raises(ValidationFailed):
        await rig.service.update_job(OPERATOR, UpdateJob(job.device_id, job.job_id, "CANCELED"))
    view = await rig.service.get_deployment(OPERATOR, dep)
    assert (view.progress.succeeded, view.progress.pending) == (1, 1)


def test_the_service_is_what_job_channels_feed() -> None:
    handler: JobHandler = Rig(fleet(1)).service  # mypy checks it against the port
    assert callable(handler.on_report)
    assert callable(handler.next_job)
