"""DeviceTypeCatalog over gRPC: asks iot.telemetry.v1.TelemetryService/GetDeviceType, as the alerting service.

Found types are cached for a short while: rules are created by people, but a burst of them (an import) should
not ask telemetry for the same type each time.
"""

from __future__ import annotations

import grpc
import grpc.aio
from iot.telemetry.v1 import telemetry_pb2, telemetry_pb2_grpc

from services.kernel.errors import Unavailable
from services.runtime.ttl_cache import TtlCache

TIMEOUT_SECONDS = 5.0


class GrpcDeviceTypes:
    """The channel should carry the alerting service's own token (open_channel with ServiceTokens)."""

    def __init__(
        self, channel: grpc.aio.Channel, cache_seconds: float = 30.0, timeout_seconds: float = TIMEOUT_SECONDS
    ):
        self._stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
        self._timeout = timeout_seconds
        self._cache = TtlCache[str, frozenset[str]](positive_ttl=cache_seconds)

    async def metrics_of(self, device_type: str) -> frozenset[str] | None:
        cached = self._cache.get(device_type)
        if cached is not None:
            return cached
        try:
            reply = await self._stub.GetDeviceType(
                telemetry_pb2.GetDeviceTypeRequest(name=device_type), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(
                "the telemetry service could not say which metrics the device type has; try again later",
                details={"service": "telemetry", "deviceType": device_type, "status": error.code().name},
            ) from None
        metrics = frozenset(m.name for m in reply.device_type.metrics)
        self._cache.put(device_type, metrics)
        return metrics
