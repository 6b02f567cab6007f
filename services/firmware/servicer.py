"""iot.firmware.v1.FirmwareService over gRPC: converts messages to domain commands and results back, nothing else.

The catalog RPCs (upload, list, get) go to the CatalogService; the deployment and job RPCs (§3.4.4–6, cancel,
rollback, and the devices' HTTP fallback) to the RolloutService. Without a rollout (a catalog-only build in
tests) those answer UNIMPLEMENTED (NOT_IMPLEMENTED, 501 at the gateway).
"""

from __future__ import annotations

from typing import Any

import grpc.aio
from iot.firmware.v1 import firmware_pb2, firmware_pb2_grpc

from services.firmware.catalog_messages import firmware_to_proto
from services.firmware.domain.catalog.listing import ListFirmware
from services.firmware.domain.catalog.service import CatalogService
from services.firmware.domain.catalog.validation import UploadFirmware
from services.firmware.domain.rollout.execution import Job
from services.firmware.domain.rollout.service import RolloutService
from services.firmware.rollout_messages import (
    create_command,
    deployment_to_proto,
    job_to_proto,
    jobs_command,
    list_command,
    update_command,
)
from services.runtime.context import current_caller
from services.runtime.messages import pagination_message
from services.runtime.service import NotImplementedYet

Context = grpc.aio.ServicerContext[Any, Any]
pb = firmware_pb2


class FirmwareServicer(firmware_pb2_grpc.FirmwareServiceServicer):
    def __init__(self, catalog: CatalogService, rollout: RolloutService | None = None):
        self._catalog = catalog
        self._rollout = rollout

    # Catalog (§3.4.1–§3.4.3).

    async def UploadFirmware(self, request: pb.UploadFirmwareRequest, context: Context) -> pb.UploadFirmwareResponse:
        command = UploadFirmware(
            version=request.version,
            device_types=tuple(request.device_types),
            release_notes=request.release_notes,
            file_name=request.file_name if request.HasField("file_name") else None,
        )
        ticket = await self._catalog.request_upload(current_caller(), command)
        return pb.UploadFirmwareResponse(
            firmware_id=ticket.firmware.firmware_id, upload_url=ticket.target.url, fields=dict(ticket.target.fields)
        )

    async def ListFirmware(self, request: pb.ListFirmwareRequest, context: Context) -> pb.ListFirmwareResponse:
        has = request.HasField
        command = ListFirmware(
            device_type=request.device_type if has("device_type") else None,
            status=request.status if has("status") else None,
            page=request.page if has("page") else None,
            page_size=request.page_size if has("page_size") else None,
        )
        page = await self._catalog.list_firmware(current_caller(), command)
        return pb.ListFirmwareResponse(
            items=[firmware_to_proto(f) for f in page.items], pagination=pagination_message(page)
        )

    async def GetFirmware(self, request: pb.GetFirmwareRequest, context: Context) -> pb.GetFirmwareResponse:
        firmware = await self._catalog.get_firmware(current_caller(), request.firmware_id)
        return pb.GetFirmwareResponse(firmware=firmware_to_proto(firmware))

    # Deployments and jobs (§3.4.4–§3.4.6), when the service has a rollout.

    def _rollouts(self, method: str) -> RolloutService:
        if self._rollout is None:
            name = f"iot.firmware.v1.FirmwareService/{method}"
            raise NotImplementedYet(f"{name} is not implemented yet", details={"method": name})
        return self._rollout

    async def CreateDeployment(
        self, request: pb.CreateDeploymentRequest, context: Context
    ) -> pb.CreateDeploymentResponse:
        rollout = self._rollouts("CreateDeployment")
        view = await rollout.create_deployment(current_caller(), create_command(request))
        return pb.CreateDeploymentResponse(deployment=deployment_to_proto(view))

    async def GetDeployment(self, request: pb.GetDeploymentRequest, context: Context) -> pb.GetDeploymentResponse:
        view = await self._rollouts("GetDeployment").get_deployment(current_caller(), request.deployment_id)
        return pb.GetDeploymentResponse(deployment=deployment_to_proto(view))

    async def ListDeployments(self, request: pb.ListDeploymentsRequest, context: Context) -> pb.ListDeploymentsResponse:
        page = await self._rollouts("ListDeployments").list_deployments(current_caller(), list_command(request))
        return pb.ListDeploymentsResponse(
            items=[deployment_to_proto(v) for v in page.items], pagination=pagination_message(page)
        )

    async def CancelDeployment(
        self, request: pb.CancelDeploymentRequest, context: Context
    ) -> pb.CancelDeploymentResponse:
        reason = request.reason if request.HasField("reason") else None
        view = await self._rollouts("CancelDeployment").cancel(current_caller(), request.deployment_id, reason)
        return pb.CancelDeploymentResponse(deployment=deployment_to_proto(view))

    async def RollbackDeployment(
        self, request: pb.RollbackDeploymentRequest, context: Context
    ) -> pb.RollbackDeploymentResponse:
        reason = request.reason if request.HasField("reason") else None
        view = await self._rollouts("RollbackDeployment").rollback(current_caller(), request.deployment_id, reason)
        return pb.RollbackDeploymentResponse(deployment=deployment_to_proto(view))

    async def ListDeploymentJobs(
        self, request: pb.ListDeploymentJobsRequest, context: Context
    ) -> pb.ListDeploymentJobsResponse:
        rollout = self._rollouts("ListDeploymentJobs")
        page = await rollout.list_jobs(current_caller(), jobs_command(request))
        return pb.ListDeploymentJobsResponse(
            items=[await self._job(rollout, j) for j in page.items], pagination=pagination_message(page)
        )

    async def GetPendingJobs(self, request: pb.GetPendingJobsRequest, context: Context) -> pb.GetPendingJobsResponse:
        rollout = self._rollouts("GetPendingJobs")
        pending = await rollout.pending_jobs(current_caller(), request.device_id)
        return pb.GetPendingJobsResponse(
            in_progress=[await self._job(rollout, j) for j in pending.in_progress],
            queued=[await self._job(rollout, j) for j in pending.queued],
        )

    async def UpdateJobExecution(
        self, request: pb.UpdateJobExecutionRequest, context: Context
    ) -> pb.UpdateJobExecutionResponse:
        rollout = self._rollouts("UpdateJobExecution")
        job = await rollout.update_job(current_caller(), update_command(request))
        return pb.UpdateJobExecutionResponse(execution=await self._job(rollout, job))

    @staticmethod
    async def _job(rollout: RolloutService, job: Job) -> pb.JobExecution:
        return job_to_proto(job, await rollout.download_url(job))
