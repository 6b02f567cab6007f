"""iot.firmware.v1.FirmwareService over gRPC: converts messages to domain commands and results back, nothing else.

The catalog RPCs (upload, list, get) go to the CatalogService. The deployment and job RPCs go to a `rollout`
when one is given — any object with those RPC methods (RolloutRpcs) — and otherwise answer UNIMPLEMENTED
(NOT_IMPLEMENTED, 501 at the gateway), so the rollout can be wired in without touching the catalog.
"""

from __future__ import annotations

from typing import Any, Protocol

import grpc.aio
from iot.firmware.v1 import firmware_pb2, firmware_pb2_grpc

from services.firmware.catalog_messages import firmware_to_proto
from services.firmware.domain.catalog.listing import ListFirmware
from services.firmware.domain.catalog.service import CatalogService
from services.firmware.domain.catalog.validation import UploadFirmware
from services.runtime.context import current_caller
from services.runtime.messages import pagination_message
from services.runtime.service import NotImplementedYet

Context = grpc.aio.ServicerContext[Any, Any]
pb = firmware_pb2


class RolloutRpcs(Protocol):
    async def CreateDeployment(
        self, request: pb.CreateDeploymentRequest, context: Context
    ) -> pb.CreateDeploymentResponse: ...
    async def GetDeployment(self, request: pb.GetDeploymentRequest, context: Context) -> pb.GetDeploymentResponse: ...
    async def ListDeployments(
        self, request: pb.ListDeploymentsRequest, context: Context
    ) -> pb.ListDeploymentsResponse: ...
    async def CancelDeployment(
        self, request: pb.CancelDeploymentRequest, context: Context
    ) -> pb.CancelDeploymentResponse: ...
    async def RollbackDeployment(
        self, request: pb.RollbackDeploymentRequest, context: Context
    ) -> pb.RollbackDeploymentResponse: ...
    async def ListDeploymentJobs(
        self, request: pb.ListDeploymentJobsRequest, context: Context
    ) -> pb.ListDeploymentJobsResponse: ...
    async def GetPendingJobs(
        self, request: pb.GetPendingJobsRequest, context: Context
    ) -> pb.GetPendingJobsResponse: ...
    async def UpdateJobExecution(
        self, request: pb.UpdateJobExecutionRequest, context: Context
    ) -> pb.UpdateJobExecutionResponse: ...


class FirmwareServicer(firmware_pb2_grpc.FirmwareServiceServicer):
    def __init__(self, catalog: CatalogService, rollout: RolloutRpcs | None = None):
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

    # Deployments and jobs (§3.4.4–§3.4.6): the rollout's, when there is one.

    def _rollouts(self, method: str) -> RolloutRpcs:
        if self._rollout is None:
            name = f"iot.firmware.v1.FirmwareService/{method}"
            raise NotImplementedYet(f"{name} is not implemented yet", details={"method": name})
        return self._rollout

    async def CreateDeployment(
        self, request: pb.CreateDeploymentRequest, context: Context
    ) -> pb.CreateDeploymentResponse:
        return await self._rollouts("CreateDeployment").CreateDeployment(request, context)

    async def GetDeployment(self, request: pb.GetDeploymentRequest, context: Context) -> pb.GetDeploymentResponse:
        return await self._rollouts("GetDeployment").GetDeployment(request, context)

    async def ListDeployments(self, request: pb.ListDeploymentsRequest, context: Context) -> pb.ListDeploymentsResponse:
        return await self._rollouts("ListDeployments").ListDeployments(request, context)

    async def CancelDeployment(
        self, request: pb.CancelDeploymentRequest, context: Context
    ) -> pb.CancelDeploymentResponse:
        return await self._rollouts("CancelDeployment").CancelDeployment(request, context)

    async def RollbackDeployment(
        self, request: pb.RollbackDeploymentRequest, context: Context
    ) -> pb.RollbackDeploymentResponse:
        return await self._rollouts("RollbackDeployment").RollbackDeployment(request, context)

    async def ListDeploymentJobs(
        self, request: pb.ListDeploymentJobsRequest, context: Context
    ) -> pb.ListDeploymentJobsResponse:
        return await self._rollouts("ListDeploymentJobs").ListDeploymentJobs(request, context)

    async def GetPendingJobs(self, request: pb.GetPendingJobsRequest, context: Context) -> pb.GetPendingJobsResponse:
        return await self._rollouts("GetPendingJobs").GetPendingJobs(request, context)

    async def UpdateJobExecution(
        self, request: pb.UpdateJobExecutionRequest, context: Context
    ) -> pb.UpdateJobExecutionResponse:
        return await self._rollouts("UpdateJobExecution").UpdateJobExecution(request, context)
