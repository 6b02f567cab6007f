"""Client and server spans of real gRPC calls: context in the metadata, status codes on both sides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from iot.device.v1 import device_pb2, device_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id

from services.kernel.errors import NotFound
from services.runtime.clients import open_channel
from services.runtime.context import traceparent_var
from services.runtime.otel import hooks
from services.runtime.server import RunningServer, ServiceRegistration, start_grpc_server
from tests.support.otel import Recorded, parent_id, recording, service_of
from tests.support.tokens import TokenMinter

GET_DEVICE = "iot.device.v1.DeviceService/GetDevice"


class Devices(device_pb2_grpc.DeviceServiceServicer):
    def __init__(self) -> None:
        self.traceparents: list[str | None] = []

    async def GetDevice(self, request: device_pb2.GetDeviceRequest, context: Any) -> device_pb2.GetDeviceResponse:
        self.traceparents.append(traceparent_var.get())
        if request.device_id == "missing":
            raise NotFound("no such device", reason="DEVICE_NOT_FOUND")
        if request.device_id == "boom":
            raise RuntimeError("a bug")
        return device_pb2.GetDeviceResponse(device=device_pb2.Device(device_id=request.device_id))


@pytest.fixture
async def traced() -> AsyncIterator[Recorded]:
    with recording(["device", "gateway"]) as recorded:
        yield recorded


@pytest.fixture
def devices() -> Devices:
    return Devices()


@pytest.fixture
async def server(traced: Recorded, devices: Devices, token_minter: TokenMinter) -> AsyncIterator[RunningServer]:
    registration = ServiceRegistration(
        device_pb2.DESCRIPTOR.services_by_name["DeviceService"],
        device_pb2_grpc.add_DeviceServiceServicer_to_server,
        devices,
    )
    running = await start_grpc_server([registration], host="127.0.0.1", port=0, verifier=token_minter.verifier())
    yield running
    await running.stop(0)


async def get_device(server: RunningServer, token: str, device_id: str) -> grpc.StatusCode:
    """GetDevice through the runtime's channel, inside a span of the gateway (the caller's side)."""
    assert hooks.tracing is not None
    channel = open_channel(server.address)
    try:
        with hooks.tracing.tracer("gateway").start_as_current_span("caller"):
            await device_pb2_grpc.DeviceServiceStub(channel).GetDevice(
                device_pb2.GetDeviceRequest(device_id=device_id), metadata=[("authorization", f"Bearer {token}")]
            )
    except grpc.aio.AioRpcError as error:
        return error.code()
    finally:
        await channel.close()
    return grpc.StatusCode.OK


def one(spans: list[ReadableSpan], kind: SpanKind) -> ReadableSpan:
    (span,) = [s for s in spans if s.kind is kind]
    return span


async def test_a_call_is_a_client_span_and_a_server_span_in_the_callers_trace(
    server: RunningServer, traced: Recorded, devices: Devices, token_minter: TokenMinter
) -> None:
    assert await get_device(server, token_minter.mint(), "dev-1") is grpc.StatusCode.OK
    spans = traced.spans()
    caller = next(s for s in spans if s.name == "caller")
    client, served = one(spans, SpanKind.CLIENT), one(spans, SpanKind.SERVER)
    assert client.name == served.name == GET_DEVICE
    assert parent_id(client) == caller.context.span_id
    assert parent_id(served) == client.context.span_id
    assert served.context.trace_id == caller.context.trace_id
    assert (service_of(client), service_of(served)) == ("iotmon-gateway", "iotmon-device")
    assert served.attributes is not None
    assert served.attributes["rpc.service"] == "iot.device.v1.DeviceService"
    assert served.attributes["rpc.grpc.status_code"] == 0
    assert served.status.status_code is StatusCode.UNSET
    flags = int(served.context.trace_flags)
    trace_id, span_id = format_trace_id(served.context.trace_id), format_span_id(served.context.span_id)
    assert devices.traceparents == [f"00-{trace_id}-{span_id}-{flags:02x}"]


async def test_a_refusal_is_the_callers_error_and_a_bug_is_the_servers(
    server: RunningServer, traced: Recorded, token_minter: TokenMinter
) -> None:
    assert await get_device(server, token_minter.mint(), "missing") is grpc.StatusCode.NOT_FOUND
    client, served = one(traced.spans(), SpanKind.CLIENT), one(traced.spans(), SpanKind.SERVER)
    assert served.attributes is not None
    assert served.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert served.status.status_code is StatusCode.UNSET
    assert client.status.status_code is StatusCode.ERROR
    traced.exporter.clear()

    assert await get_device(server, token_minter.mint(), "boom") is grpc.StatusCode.INTERNAL
    served = one(traced.spans(), SpanKind.SERVER)
    assert served.attributes is not None
    assert served.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]
    assert served.status.status_code is StatusCode.ERROR


async def test_a_caller_without_tracing_still_joins_its_trace_by_traceparent(
    server: RunningServer, traced: Recorded, token_minter: TokenMinter
) -> None:
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with grpc.aio.insecure_channel(server.address) as channel:
        await device_pb2_grpc.DeviceServiceStub(channel).GetDevice(
            device_pb2.GetDeviceRequest(device_id="dev-1"),
            metadata=[("authorization", f"Bearer {token_minter.mint()}"), ("traceparent", incoming)],
        )
    served = one(traced.spans(), SpanKind.SERVER)
    assert format_trace_id(served.context.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parent_id(served) == int("00f067aa0ba902b7", 16)
