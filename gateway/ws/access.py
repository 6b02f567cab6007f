"""Which of the devices a subscriber names may it watch: the device service answers (BatchGetDevices).

BatchGetDevices is internal to the platform (`internal_only`), so the hub calls it with the gateway's own
service token and keeps only the devices of the caller's organization: a user never learns whether an id
exists in another organization, and deleted devices are not returned at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc
import grpc.aio
from iot.device.v1 import device_pb2

from gateway.upstream import GATEWAY_CHANNEL_OPTIONS
from services.kernel.caller import Caller
from services.runtime.service_tokens import ServiceTokens

BATCH_GET_DEVICES = "/iot.device.v1.DeviceService/BatchGetDevices"
BATCH_LIMIT = 500  # BatchGetDevicesRequest names up to 500 devices


class AccessUnavailable(Exception):
    """The device service could not answer; the subscriber is told to retry."""


class DeviceAccess:
    def __init__(self, device_address: str, tokens: ServiceTokens, timeout_seconds: float):
        self._address = device_address
        self._tokens = tokens
        self._timeout = timeout_seconds
        self._channel: grpc.aio.Channel | None = None
        self._call: (
            grpc.aio.UnaryUnaryMultiCallable[device_pb2.BatchGetDevicesRequest, device_pb2.BatchGetDevicesResponse]
            | None
        ) = None

    async def open(self) -> None:
        self._channel = grpc.aio.insecure_channel(self._address, options=GATEWAY_CHANNEL_OPTIONS)
        self._call = self._channel.unary_unary(
            BATCH_GET_DEVICES,
            request_serializer=device_pb2.BatchGetDevicesRequest.SerializeToString,
            response_deserializer=device_pb2.BatchGetDevicesResponse.FromString,
        )

    async def close(self) -> None:
        channel, self._channel, self._call = self._channel, None, None
        if channel is not None:
            await channel.close()

    async def visible(self, caller: Caller, device_ids: Sequence[str]) -> set[str]:
        """The ids among `device_ids` that name live devices of the caller's organization."""
        call = self._call
        if call is None:
            raise AccessUnavailable("the gateway is not connected to the device service")
        metadata = (("authorization", f"Bearer {self._tokens.token()}"),)
        chunks = [device_ids[i : i + BATCH_LIMIT] for i in range(0, len(device_ids), BATCH_LIMIT)]
        try:
            replies = await asyncio.gather(
                *(
                    call(device_pb2.BatchGetDevicesRequest(device_ids=chunk), metadata=metadata, timeout=self._timeout)
                    for chunk in chunks
                )
            )
        except grpc.aio.AioRpcError as error:
            raise AccessUnavailable(f"the device service did not answer ({error.code().name})") from None
        return {
            device.device_id
            for reply in replies
            for device in reply.devices
            if device.organization_id == caller.organization_id
        }
