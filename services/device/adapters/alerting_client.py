"""ActiveAlerts over gRPC: asks iot.alerting.v1.AlertingService/CountActiveAlerts, forwarding the caller's token."""

from __future__ import annotations

import logging

import grpc
import grpc.aio
from iot.alerting.v1 import alerting_pb2, alerting_pb2_grpc

from services.kernel.errors import Unavailable
from services.runtime.clients import UNREACHABLE

log = logging.getLogger("iotmon.device.alerting")

TIMEOUT_SECONDS = 5.0


class GrpcActiveAlerts:
    """The channel should come from services.runtime.clients.open_channel, which forwards the caller's token."""

    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float = TIMEOUT_SECONDS):
        self._stub = alerting_pb2_grpc.AlertingServiceStub(channel)
        self._timeout = timeout_seconds
        self._warned_unimplemented = False

    async def count_active(self, device_id: str) -> int:
        request = alerting_pb2.CountActiveAlertsRequest(device_id=device_id)
        try:
            reply = await self._stub.CountActiveAlerts(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            return self._answer_for(error)
        return int(reply.count)

    def _answer_for(self, error: grpc.aio.AioRpcError) -> int:
        code = error.code()
        if code == grpc.StatusCode.UNIMPLEMENTED:
            # Until the alerting service is built it answers UNIMPLEMENTED: no alerts can be active.
            if not self._warned_unimplemented:
                self._warned_unimplemented = True
                log.warning("alerting does not implement CountActiveAlerts yet; assuming no active alerts")
            return 0
        if code in UNREACHABLE:
            raise Unavailable(
                "the alerting service did not answer; the device was not deleted, try again later",
                details={"service": "alerting"},
            )
        raise error
